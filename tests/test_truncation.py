import pytest
import torch

from afno_tutorial import spectral
from afno_tutorial.lessons.images import load_image
from afno_tutorial.lessons.resolution import norm_scaling
from afno_tutorial.lessons.truncation import apply_spectral_mask, lowpass, relative_error, truncation_curve


def test_lowpass_keeps_exactly_the_kept_bins():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 12, generator=gen, dtype=torch.float64)
    y = lowpass(x, (3, 4))
    mask = spectral.kept_mode_mask(16, 12, (3, 4))
    zx, zy = torch.fft.rfft2(x), torch.fft.rfft2(y)
    torch.testing.assert_close(zy[mask], zx[mask])
    assert zy[~mask].abs().max() < 1e-10


def test_lowpass_of_all_modes_is_identity_and_error_decreases():
    x = load_image("camera", 32)
    torch.testing.assert_close(lowpass(x, spectral.max_modes(32, 32)[0]), x, atol=1e-5, rtol=0)
    curve = truncation_curve(x, [1, 2, 4, 8, 17])
    assert all(a > b for a, b in zip(curve["error"], curve["error"][1:]))
    assert curve["error"][-1] < 1e-5 and curve["kept_fraction"][-1] == 1.0


def test_fourcastnet_rows_are_high_frequencies():
    # The reference row slice keeps |k_y| near H/2: a smooth image loses almost all its energy.
    x = load_image("camera", 64, gray=True)
    good = apply_spectral_mask(x, spectral.reference_kept_mask(64, 64, 0.25, "afno_tutorial"))
    bad = apply_spectral_mask(x, spectral.reference_kept_mask(64, 64, 0.25, "fourcastnet"))
    assert relative_error(good, x) < 0.3 < 0.9 < relative_error(bad, x)


def test_mask_shape_is_checked():
    with pytest.raises(ValueError, match="mask: expected shape"):
        apply_spectral_mask(torch.rand(8, 8), torch.ones(8, 8, dtype=torch.bool))


def test_norm_scaling_laws():
    t = norm_scaling([8, 16, 32])
    assert t["forward"] == pytest.approx([0.5] * 3)
    assert [b / a for a, b in zip(t["ortho"], t["ortho"][1:])] == pytest.approx([2, 2])
    assert [b / a for a, b in zip(t["backward"], t["backward"][1:])] == pytest.approx([4, 4])
    with pytest.raises(ValueError, match="sizes:"):
        norm_scaling([4], frequency=(1, 2))


def test_load_image_shapes_and_range():
    g = load_image("astronaut", 40)
    c = load_image("camera", 24, gray=False)
    assert g.shape == (40, 40) and c.shape == (3, 24, 24)
    assert 0 <= float(g.min()) and float(g.max()) <= 1
    with pytest.raises(ValueError, match="name:"):
        load_image("lena")
