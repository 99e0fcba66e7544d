"""AFNO2d: parity with the paper's equations, truncation, symmetry, resolution, precision, gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import afno_per_bin_loop, band_limited_field, reference_afno2d_forward

from afno_tutorial import AFNO2d, spectral


def _afno(dim=16, seed=0, weight_scale=None, **kwargs) -> AFNO2d:
    torch.manual_seed(seed)
    mixer = AFNO2d(dim, **kwargs).double()
    if weight_scale is not None:  # larger weights so that ReLU and shrinkage both bite
        with torch.no_grad():
            for p in mixer.parameters():
                p.mul_(weight_scale / 0.02)
    return mixer


def _spectrum_of_update(mixer, x):
    """rfft2 of the mixed tokens ``y`` with channels last: ``(B, H, W//2+1, C)``."""
    with torch.no_grad():
        return torch.fft.rfft2(mixer(x), dim=(1, 2), norm="ortho")


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((2, 6, 5, 16), dict(num_blocks=4)),
        ((1, 7, 8, 16), dict(num_blocks=2, hidden_size_factor=2)),
        ((2, 8, 6, 16), dict(num_blocks=4, hard_thresholding_fraction=0.5)),
        ((1, 9, 7, 16), dict(num_blocks=8, modes=(3, 2), fft_norm="forward")),
        ((1, 6, 6, 16), dict(num_blocks=4, mlp_layers=1)),
        ((1, 5, 6, 16), dict(num_blocks=2, bias=False, sparsity_threshold=0.0)),
    ],
)
def test_matches_per_bin_loop_from_the_paper(shape, kwargs):
    mixer = _afno(weight_scale=0.3, **kwargs)
    x = torch.randn(*shape, dtype=torch.float64)
    expected = afno_per_bin_loop(mixer, x)
    torch.testing.assert_close(mixer(x), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("path", ["plain", "pocketfft"])
def test_inner_skip_adds_the_input_and_nothing_else(path):
    mixer = _afno(weight_scale=0.3, num_blocks=4, hard_thresholding_fraction=0.6, path=path)
    skip = _afno(weight_scale=0.3, num_blocks=4, hard_thresholding_fraction=0.6, path=path, inner_skip=True)
    x = torch.randn(2, 7, 6, 16, dtype=torch.float64, requires_grad=True)
    y = mixer(x)
    torch.testing.assert_close(y, afno_per_bin_loop(mixer, x.detach()), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(skip(x), x + y, rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad(skip(x).sum(), x)
    (grad_mix,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(grad, grad_mix + 1, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("path", ["plain", "pocketfft"])
@pytest.mark.parametrize("shape", [(2, 8, 8, 32), (1, 6, 10, 32), (1, 7, 5, 32)])
def test_reference_state_dict_loads_and_matches_the_reference_forward_with_inner_skip(shape, path):
    torch.manual_seed(1)
    k, b = 4, 8
    state = {"w1": 0.3 * torch.randn(2, k, b, b), "b1": 0.3 * torch.randn(2, k, b),
             "w2": 0.3 * torch.randn(2, k, b, b), "b2": 0.3 * torch.randn(2, k, b)}
    mixer = AFNO2d(32, num_blocks=k, inner_skip=True, path=path).double()
    mixer.load_state_dict(state)
    x = torch.randn(*shape, dtype=torch.float64)
    expected = reference_afno2d_forward({n: t.double() for n, t in state.items()}, x, num_blocks=k)
    torch.testing.assert_close(mixer(x), expected, rtol=1e-10, atol=1e-10)
    assert (expected - x).abs().max() > 1e-2  # the mixer does something besides the skip


def test_num_blocks_equals_dense_mlp_with_block_diagonal_weights():
    dim, k = 16, 4
    blocked = _afno(dim, num_blocks=k, weight_scale=0.3)
    dense = AFNO2d(dim, num_blocks=1).double()
    b = dim // k
    with torch.no_grad():
        for name in ("w1", "w2"):
            full = torch.zeros_like(getattr(dense, name))
            for j in range(k):
                full[:, 0, j * b : (j + 1) * b, j * b : (j + 1) * b] = getattr(blocked, name)[:, j]
            getattr(dense, name).copy_(full)
        for name in ("b1", "b2"):
            getattr(dense, name).copy_(getattr(blocked, name).reshape(2, 1, dim))
    x = torch.randn(2, 8, 8, dim, dtype=torch.float64)
    torch.testing.assert_close(dense(x), blocked(x), rtol=1e-12, atol=1e-12)


def test_parameter_names_shapes_and_count_match_the_reference():
    dim, k, f = 64, 8, 2
    mixer = AFNO2d(dim, num_blocks=k, hidden_size_factor=f)
    b = dim // k
    shapes = {name: tuple(p.shape) for name, p in mixer.named_parameters()}
    assert shapes == {"w1": (2, k, b, b * f), "b1": (2, k, b * f), "w2": (2, k, b * f, b), "b2": (2, k, b)}
    assert sum(p.numel() for p in mixer.parameters()) == 4 * dim**2 * f // k + 2 * dim * f + 2 * dim
    # A reference-layout state_dict loads unchanged.
    mixer.load_state_dict({name: torch.zeros(shape) for name, shape in shapes.items()})
    # Initialised 0.02 * randn.
    assert 0.015 < AFNO2d(256).w1.std().item() < 0.025


@pytest.mark.parametrize("size", [(16, 16), (15, 12), (12, 17)])
def test_fraction_half_keeps_lowest_frequencies_on_both_signs(size):
    height, width = size
    mixer = _afno(hard_thresholding_fraction=0.5, weight_scale=0.3, num_blocks=4)
    update = _spectrum_of_update(mixer, torch.randn(2, height, width, 16, dtype=torch.float64))
    kept = spectral.kept_mode_mask(height, width, spectral.modes_from_fraction(height, width, 0.5))
    power = update.abs().amax(dim=(0, 3))  # (H, W//2+1)
    assert power[~kept].max() < 1e-12, "energy outside the kept set"
    assert (power[kept] > 1e-6).all(), "a kept bin carries nothing"
    ky, kx = spectral.frequency_grid(height, width)
    # Both signs of k_y, and the lowest ones: the reference defects keep other sets.
    assert kept[ky == 1].any() and kept[ky == -1].any()
    assert not kept[ky.abs() == ky.abs().max()].any()
    assert not kept[kx == kx.max()].any()
    for implementation in ("nvlabs", "fourcastnet"):
        assert not torch.equal(kept, spectral.reference_kept_mask(height, width, 0.5, implementation))


def test_reference_truncation_defects_are_what_the_design_notes_say():
    # NVlabs: fraction 0.5 on 16x16 keeps everything (N//2+1 columns of a W//2+1 axis).
    assert spectral.reference_kept_mask(16, 16, 0.5, "nvlabs").all()
    # FourCastNet: keeps the highest |k_y| rows and drops k_y = 0.
    fcn = spectral.reference_kept_mask(16, 16, 0.5, "fourcastnet")
    ky, _ = spectral.frequency_grid(16, 16)
    assert not fcn[ky == 0].any() and fcn[ky.abs() == 8].any()


def test_absolute_modes_keep_exactly_that_set():
    mixer = _afno(modes=(3, 2), fft_norm="forward", weight_scale=0.3, num_blocks=4)
    height, width = 12, 10
    update = _spectrum_of_update(mixer, torch.randn(1, height, width, 16, dtype=torch.float64))
    power = update.abs().amax(dim=(0, 3))
    ky, kx = spectral.frequency_grid(height, width)
    kept = (ky.abs() < 3) & (kx < 2)
    assert kept.sum() == 10
    assert power[~kept].max() < 1e-12
    assert (power[kept] > 1e-6).all()


def test_fraction_half_computes_about_a_quarter_of_the_bins():
    height, width = 64, 64
    kept = spectral.kept_mode_mask(height, width, spectral.modes_from_fraction(height, width, 0.5))
    assert 0.2 < kept.sum() / kept.numel() < 0.3
    mixer = AFNO2d(32, hard_thresholding_fraction=0.5, path="plain")  # the plain path calls spectral_mlp
    seen = []
    original = mixer.spectral_mlp
    mixer.spectral_mlp = lambda z: (seen.append(z.shape), original(z))[1]
    mixer(torch.randn(1, height, width, 32))
    rows, cols = seen[0][-2:]
    assert rows * cols == kept.sum()


def test_not_shift_equivariant_because_of_the_componentwise_nonlinearity():
    torch.manual_seed(0)
    x = torch.randn(1, 12, 12, 16, dtype=torch.float64)
    shift = dict(shifts=(3, 5), dims=(1, 2))
    mixer = _afno(weight_scale=0.3, num_blocks=4)
    gap = (mixer(torch.roll(x, **shift)) - torch.roll(mixer(x), **shift)).abs().max()
    # A shift multiplies each bin by a phase; ReLU on real and imaginary parts does not commute with it.
    assert gap > 1e-3
    # Without the nonlinearity, shrinkage and biases the same mixer is a per-bin linear map: equivariant.
    linear = _afno(weight_scale=0.3, num_blocks=4, mlp_layers=1, bias=False, sparsity_threshold=0.0)
    torch.testing.assert_close(linear(torch.roll(x, **shift)), torch.roll(linear(x), **shift))


def test_one_shared_complex_weight_is_a_channel_map_plus_a_hilbert_type_transform():
    dim = 8
    mixer = _afno(dim, weight_scale=0.3, num_blocks=2, mlp_layers=1, bias=False, sparsity_threshold=0.0)
    x = torch.randn(2, 10, 9, dim, dtype=torch.float64)
    # Block-diagonal real matrices A (real part) and B (imaginary part) of the shared weight.
    a = torch.block_diag(*mixer.w1[0].detach())
    b = torch.block_diag(*mixer.w1[1].detach())
    # The transform multiplying every rfft2 bin by i (a Hilbert transform along the rfft axis).
    spec = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")
    hx = torch.fft.irfft2(1j * spec, s=x.shape[1:3], dim=(1, 2), norm="ortho")
    torch.testing.assert_close(mixer(x), x @ a + hx @ b)


def test_resolution_independent_with_forward_norm_and_absolute_modes():
    mixer = _afno(modes=(4, 4), fft_norm="forward", weight_scale=0.3, num_blocks=4)
    coarse = band_limited_field(16, 16, max_freq=3)
    fine = band_limited_field(32, 16, max_freq=3)
    torch.testing.assert_close(fine[:, ::2, ::2], coarse)
    torch.testing.assert_close(mixer(fine)[:, ::2, ::2], mixer(coarse))


def test_ortho_norm_is_not_resolution_independent():
    mixer = _afno(modes=(4, 4), fft_norm="ortho", weight_scale=0.3, num_blocks=4)
    coarse, fine = band_limited_field(16, 16, max_freq=3), band_limited_field(32, 16, max_freq=3)
    assert (mixer(fine)[:, ::2, ::2] - mixer(coarse)).abs().max() > 1e-3


def test_hermitian_projection_is_the_real_part_of_the_hermitian_extension():
    mixer = _afno(weight_scale=0.3, num_blocks=4)
    x = torch.randn(1, 6, 8, 16, dtype=torch.float64)
    with torch.no_grad():
        z = mixer.spectral_mlp(spectral.rfft2_kept(x.permute(0, 3, 1, 2), (4, 5)))
        y = spectral.irfft2_kept(z, (6, 8), (4, 5))
        # Full spectrum from the non-redundant columns 1..W/2-1; the DC/Nyquist columns as they are.
        full = torch.zeros(*z.shape[:2], 6, 8, dtype=z.dtype)
        full[..., :5] = z
        neg_rows = (-torch.arange(6)) % 6
        full[..., 5:] = z[..., neg_rows, 1:4].flip(-1).conj()
        expected = torch.fft.ifft2(full, norm="ortho").real
    # The DC/Nyquist columns are not Hermitian here: taking only the real part is the projection.
    assert (z[..., 0] - z[..., neg_rows, 0].conj()).abs().max() > 1e-3
    torch.testing.assert_close(y, expected)


def test_reference_mode_matches_projection_on_cpu():
    x = torch.randn(1, 6, 8, 16, dtype=torch.float64)
    projected = _afno(weight_scale=0.3, num_blocks=4)
    plain = _afno(weight_scale=0.3, num_blocks=4, hermitian_projection=False)
    torch.testing.assert_close(projected(x), plain(x))


def test_bf16_autocast_keeps_the_spectral_mlp_in_float32():
    torch.manual_seed(0)
    mixer = AFNO2d(32, num_blocks=4)
    x = torch.randn(2, 16, 16, 32)
    reference = mixer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        same = mixer(x)
        low = mixer(x.bfloat16())
    # float32 input under autocast: the matmuls must not silently drop to bf16.
    torch.testing.assert_close(same, reference, rtol=0, atol=1e-6)
    assert same.dtype == torch.float32
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    torch.testing.assert_close(low.float(), reference, rtol=0.02, atol=0.05)


def test_gradients_reach_every_parameter_and_the_input():
    mixer = _afno(weight_scale=0.3, num_blocks=4, hard_thresholding_fraction=0.7)
    x = torch.randn(2, 8, 7, 16, dtype=torch.float64, requires_grad=True)
    mixer(x).pow(2).sum().backward()
    for name, p in mixer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_gradcheck_small():
    mixer = _afno(8, weight_scale=0.3, num_blocks=2, hard_thresholding_fraction=0.6)
    x = torch.randn(1, 5, 6, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mixer, (x,))


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 2),
    height=st.integers(1, 11),
    width=st.integers(1, 11),
    blocks=st.sampled_from([1, 2, 4]),
    fraction=st.floats(0.05, 1.0),
)
def test_any_shape_keeps_shape_and_truncates_exactly(batch, height, width, blocks, fraction):
    mixer = _afno(8, weight_scale=0.3, num_blocks=blocks, hard_thresholding_fraction=fraction)
    x = torch.randn(batch, height, width, 8, dtype=torch.float64)
    y = mixer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    kept = spectral.kept_mode_mask(height, width, mixer.kept_modes(height, width))
    power = torch.fft.rfft2(y, dim=(1, 2), norm="ortho").abs().amax(dim=(0, 3))
    assert torch.all(power[~kept] < 1e-10)


@pytest.mark.parametrize("size, kwargs", [((128, 130), {}), ((96, 64), dict(hard_thresholding_fraction=0.5))])
def test_inference_path_matches_the_autograd_path(size, kwargs):
    # Without a graph to record, the mixer may take a leaner route (chunks of bins, in-place ops): same numbers.
    mixer = _afno(8, weight_scale=0.3, num_blocks=2, **kwargs)
    x = torch.randn(1, *size, 8, dtype=torch.float64)
    with_graph = mixer(x)
    assert with_graph.requires_grad
    with torch.no_grad():
        without = mixer(x)
    with torch.inference_mode():
        inference = mixer(x)
    torch.testing.assert_close(without, with_graph, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(inference, with_graph, rtol=1e-12, atol=1e-12)
    # And the per-bin loop of the paper agrees on this larger grid too.
    torch.testing.assert_close(without, afno_per_bin_loop(mixer, x).detach(), rtol=1e-10, atol=1e-10)


def test_a_saved_backbone_keeps_the_skip_structure_it_was_trained_with(tmp_path):
    """A backbone saved with the reference's inner skip loads with it (same outputs); the shipped AFNO backbone was
    trained under the one mixer contract (no inner skip) and loads that way."""
    from afno_tutorial.fewshot.pretrain import load_pretrained
    from afno_tutorial.models import VisionBackbone
    from afno_tutorial.train import load_backbone, save_backbone

    config = {"mixer": "afno", "dim": 16, "depth": 2, "patch_size": 4, "img_size": 16,
              "mixer_kwargs": {"inner_skip": True}}
    torch.manual_seed(0)
    saved = VisionBackbone(**config).eval()
    save_backbone(saved, tmp_path / "b.pt", config)
    loaded, meta = load_backbone(tmp_path / "b.pt")
    assert meta["config"]["mixer_kwargs"]["inner_skip"] is True
    assert all(block.mixer.inner_skip for block in loaded.blocks)
    images = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(loaded.eval()(images), saved(images))

    shipped, _ = load_pretrained("afno")
    assert not any(block.mixer.inner_skip for block in shipped.blocks)
