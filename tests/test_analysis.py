"""Sparsity, Jacobian maps, shift equivariance and resolution checks (notebook 03's library)."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from figure_checks import assert_readable, plot_axes
from matplotlib.colors import to_hex

from afno_tutorial import AFNO2d, GlobalFilter2d, SelfAttention2d, SpectralConv2d, spectral
from afno_tutorial.lessons.jacobian import token_jacobian_map
from afno_tutorial.lessons.ladder import train_mixers
from afno_tutorial.lessons.probes import bias_field, capture_mixer_inputs, mixing_part, without_biases
from afno_tutorial.lessons.resolution import band_limit, fourier_upsample, resolution_consistency
from afno_tutorial.lessons.sparsity import mixer_output, surviving_fraction_map, zeroed_fraction
from afno_tutorial.lessons.symmetry import shift_equivariance_error, shift_error_parts, shift_errors
from afno_tutorial.viz import mixing as vmix
from afno_tutorial.viz import spectra, widgets
from afno_tutorial.viz.colours import mixer_colour


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_mixer_output_at_trained_lambda_is_the_forward():
    torch.manual_seed(0)
    m = AFNO2d(16, num_blocks=4, sparsity_threshold=0.01)
    x = _x(2, 8, 8, 16)
    torch.testing.assert_close(mixer_output(m, x, 0.01), m(x))
    assert not torch.allclose(mixer_output(m, x, 0.5), m(x))
    assert m.sparsity_threshold == 0.01  # restored


def test_zeroed_fraction_grows_with_lambda_and_survival_map():
    torch.manual_seed(0)
    m = AFNO2d(16, num_blocks=4, hard_thresholding_fraction=0.5)
    x = _x(2, 8, 8, 16)
    fr = zeroed_fraction(m, x, [0.0, 1e-3, 1e-2, 1e-1, 10.0])
    assert fr[0] < 0.01 and fr[-1] == 1.0
    assert all(a <= b for a, b in zip(fr, fr[1:]))
    modes = zeroed_fraction(m, x, [0.0, 1e-2, 10.0], per="mode")
    # A mode is off only when all its coefficients are: never more than the coefficient fraction.
    assert modes[0] == 0 and modes[-1] == 1.0 and modes[1] <= fr[2]
    with pytest.raises(ValueError, match="per:"):
        zeroed_fraction(m, x, [0.1], per="bin")
    surv = surviving_fraction_map(m, x, 1e-3)
    kept = spectral.kept_mode_mask(8, 8, m.kept_modes(8, 8))
    assert surv.shape == (8, 5) and surv[~kept].abs().max() == 0 and surv[kept].min() > 0
    assert surviving_fraction_map(m, x, 10.0).max() == 0
    with pytest.raises(TypeError, match="mixer: expected an AFNO2d"):
        zeroed_fraction(GlobalFilter2d(16, 8), x, [0.1])


def test_jacobian_map_of_known_operators():
    x = _x(1, 6, 7, 4)
    # Identity: only the token itself, with norm sqrt(C).
    j = token_jacobian_map(lambda t: t, x, (2, 3))
    expected = torch.zeros(6, 7)
    expected[2, 3] = 2.0
    torch.testing.assert_close(j, expected)
    # A circular shift by one row: the output token looks one row up.
    j = token_jacobian_map(lambda t: torch.roll(t, 1, dims=1), x, (2, 3))
    assert j[1, 3] == pytest.approx(2.0) and j.sum() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="token:"):
        token_jacobian_map(lambda t: t, x, (6, 0))


def test_jacobian_maps_of_convolutions_are_shifted_copies():
    torch.manual_seed(0)
    x = _x(1, 8, 8, 8)
    for m in (GlobalFilter2d(8, 8), SpectralConv2d(8, (3, 3))):
        a = token_jacobian_map(lambda t: mixing_part(m, t), x, (2, 2))
        b = token_jacobian_map(lambda t: mixing_part(m, t), x, (5, 6))
        torch.testing.assert_close(torch.roll(a, (3, 4), (0, 1)), b, atol=1e-5, rtol=1e-4)


def test_bias_field_is_a_fixed_pattern_on_row_0():
    torch.manual_seed(0)
    m = AFNO2d(16, num_blocks=4)
    field = bias_field(m, (8, 8))[0]  # (8, 8, 16)
    assert field.abs().max() > 1e-4
    # A constant spectrum: its real part an impulse at token (0, 0), its imaginary part a transform along row 0.
    assert field[1:].abs().max() < 1e-6
    x = _x(1, 8, 8, 16)
    assert field.norm() > 0 and bias_field(without_biases(m), (8, 8)).abs().max() == 0
    assert m.b1.abs().max() > 0  # the original keeps its biases
    torch.testing.assert_close(mixing_part(without_biases(m), torch.zeros_like(x)), torch.zeros_like(x))
    with pytest.raises(TypeError, match="mixer"):
        bias_field(GlobalFilter2d(16, 8), (8, 8))


def test_shift_error_parts():
    torch.manual_seed(0)
    x = _x(2, 8, 8, 16)
    m = AFNO2d(16, num_blocks=4, sparsity_threshold=0.0)  # at initialisation lambda = 0.01 would zero the rest
    parts = shift_error_parts(m, x, (1, 2))
    assert parts["mixer"] == pytest.approx(shift_equivariance_error(m, x, (1, 2)))
    assert parts["bias_field"] > 0 and parts["without_biases"] > 0
    # Without biases the bias field is zero and the error is all the nonlinearity's.
    plain = without_biases(m)
    parts = shift_error_parts(plain, x, (1, 2))
    assert parts["bias_field"] == 0 and parts["without_biases"] == pytest.approx(parts["mixer"])


def test_shift_equivariance():
    torch.manual_seed(0)
    x = _x(2, 8, 8, 16)
    mixers = {"afno": AFNO2d(16, num_blocks=4), "gfn": GlobalFilter2d(16, 8), "fno": SpectralConv2d(16, (4, 5)),
              "attention": SelfAttention2d(16, 4)}
    errs = shift_errors(mixers, {k: x for k in mixers}, [(1, 0), (3, 5)])
    assert all(e < 1e-5 for k in ("gfn", "fno", "attention") for e in errs[k])
    assert all(e > 1e-2 for e in errs["afno"])
    assert shift_equivariance_error(mixers["afno"], x, (0, 0)) == 0


def test_fourier_upsample_and_resolution_consistency():
    x = _x(2, 8, 12, 3)
    up = fourier_upsample(x, 2)
    assert up.shape == (2, 16, 24, 3)
    torch.testing.assert_close(up[:, ::2, ::2], band_limit(x), atol=1e-5, rtol=0)
    torch.manual_seed(0)
    fno = SpectralConv2d(3, (4, 5))
    forward = AFNO2d(4, num_blocks=2, fft_norm="forward", modes=(4, 4), sparsity_threshold=1e-3)
    ortho = AFNO2d(4, num_blocks=2)
    x4 = _x(1, 8, 8, 4, seed=1)
    assert resolution_consistency(fno, _x(1, 8, 8, 3)) < 1e-5
    assert resolution_consistency(forward, x4) < 1e-5
    assert resolution_consistency(ortho, x4) > 1e-2


def test_capture_inputs_and_train_mixers_tiny():
    imgs = torch.rand(4, 3, 16, 16)
    models = train_mixers({"afno": ("afno", {"num_blocks": 2}), "gfn": ("gfn", {})}, imgs, dim=8, depth=2,
                          steps=2, batch_size=2, progress=False)
    assert set(models) == {"afno", "gfn"} and len(models["afno"].history["loss"]) == 2
    feats = capture_mixer_inputs(models["afno"], imgs[:2])
    assert len(feats) == 2 and feats[0].shape == (2, 4, 4, 8)
    # The first block's mixer input is the layer-normed patch embedding plus position embedding.
    bb = models["afno"].backbone
    with torch.no_grad():
        expected = bb.blocks[0].norm1(bb.patch_embed(imgs[:2]) + bb.pos_embed)
    torch.testing.assert_close(feats[0], expected)
    with pytest.raises(TypeError, match="model:"):
        capture_mixer_inputs(torch.nn.Linear(2, 2), imgs)


def test_widgets_redraw():
    torch.manual_seed(0)
    m = AFNO2d(8, num_blocks=2)
    x = _x(2, 8, 8, 8)
    box = widgets.lambda_widget(m, x, lam=1e-3)
    first = box.figure.axes[0].get_title()
    box.controls["lam"].value = 1.0
    assert box.draws == 2 and box.figure.axes[0].get_title() != first and "lambda = 1" in box.figure.axes[0].get_title()
    box = widgets.jacobian_widget({"afno": m, "gfn": GlobalFilter2d(8, 8)}, {"afno": x[:1], "gfn": x[:1]},
                                  token=(1, 1))
    box.controls["i"].value = 5
    assert box.draws == 2 and len(plot_axes(box.figure)) == 2
    # The GFN panel's maximum (the marked token's peak) moves with the chosen token.
    with pytest.raises(ValueError, match="token:"):
        widgets.jacobian_widget({"afno": m}, {"afno": x[:1]}, token=(9, 0))


def test_mixing_figures():
    maps = {"a": torch.rand(4, 4), "b": torch.rand(4, 4)}
    fig = vmix.plot_jacobian_maps(maps, (1, 2), image=torch.rand(16, 16))
    assert len(plot_axes(fig)) == 3 and "from other tokens" in fig.axes[1].get_title()
    assert_readable(fig)
    # One colour scale for every map: a map ten times smaller looks ten times darker, not the same.
    images = [ax.images[0] for ax in plot_axes(fig)[1:]]
    assert images[0].norm is images[1].norm
    fig = vmix.plot_token_maps({"x": torch.rand(4, 4), "y": 3 * torch.rand(4, 4)}, "value", marks=[(0, 0)])
    assert_readable(fig)
    assert plot_axes(fig)[0].images[0].norm.vmax == pytest.approx(float(fig.axes[1].images[0].get_array().max()))
    power = [torch.rand(8, 5) + 0.1, torch.rand(8, 5) + 0.1]
    fig = spectra.plot_power_spectra(power, ["a", "b"])
    assert_readable(fig)
    assert fig.axes[0].images[0].norm is fig.axes[1].images[0].norm
    fig = spectra.plot_radial_spectra(power, ["a", "b"])
    assert_readable(fig)
    ks, ring = spectra.radial_profile(torch.ones(8, 5))
    assert list(ks) == [0, 1, 2, 3, 4] and all(v == 1 for v in ring)
    fig = vmix.plot_shift_errors({"a": [1e-8, 1e-7], "b": [0.3, 0.5]}, [(1, 0), (2, 2)])
    assert len(fig.axes[0].patches) == 4
    assert_readable(fig)
    # One colour per mixer: a mixer's bars, and a variant's, take its registered colour.
    colours = vmix.label_colours(["AFNO", "AFNO forward", "self-attention", "attention", "GFN", "mine"])
    assert colours["AFNO"] == colours["AFNO forward"] == mixer_colour("afno")
    assert colours["self-attention"] == colours["attention"] == mixer_colour("attention")
    assert colours["mine"] not in {mixer_colour(n) for n in ("afno", "attention", "gfn", "fno")}
    fig = vmix.plot_shift_errors({"GFN": [1e-8, 1e-7], "FNO": [0.3, 0.5]}, [(1, 0), (2, 2)])
    assert to_hex(fig.axes[0].patches[0].get_facecolor()) == mixer_colour("gfn")
    fig = vmix.plot_resolution({"a": 1e-7, "b": 0.4}, {"a": (15.0, 13.0)})
    assert len(fig.axes) == 2
    assert_readable(fig)
    fig = vmix.plot_sparsity_curve([1e-3, 1e-2], [0.1, 0.5], 0.01, mode_fractions=[0.0, 0.2])
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(fig.axes[0].lines) == 3 and any("0.01" in t for t in texts)
