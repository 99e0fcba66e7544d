"""The rfft2 layout helpers: frequencies, kept sets, truncated transforms."""

from __future__ import annotations

import pytest
import torch

from afno_tutorial import spectral


def test_frequency_grid_matches_fftfreq_layout():
    ky, kx = spectral.frequency_grid(5, 6)
    assert ky[:, 0].tolist() == [0, 1, 2, -2, -1]
    assert kx[0].tolist() == [0, 1, 2, 3]
    ky, _ = spectral.frequency_grid(4, 4)
    assert ky[:, 0].tolist() == [0, 1, -2, -1]


@pytest.mark.parametrize("height, width, fraction, expected", [
    (16, 16, 1.0, (9, 9)), (16, 16, 0.5, (4, 4)), (15, 12, 0.5, (4, 3)), (64, 64, 0.29, (9, 9)),
    (8, 8, 0.01, (1, 1)),
])
def test_modes_from_fraction(height, width, fraction, expected):
    assert spectral.modes_from_fraction(height, width, fraction) == expected


def test_fraction_one_keeps_every_bin():
    for h, w in [(7, 7), (8, 5), (1, 1), (2, 9)]:
        assert spectral.kept_mode_mask(h, w, spectral.modes_from_fraction(h, w, 1.0)).all()


@pytest.mark.parametrize("height, width, modes", [(9, 10, (3, 4)), (8, 8, (5, 5)), (6, 7, (1, 1)), (5, 4, (3, 3))])
def test_truncated_transforms_match_masked_full_transforms(height, width, modes):
    x = torch.randn(2, 3, height, width, dtype=torch.float64)
    mask = spectral.kept_mode_mask(height, width, modes)
    full = torch.fft.rfft2(x, norm="forward")
    kept = spectral.rfft2_kept(x, modes, "forward")
    assert kept.shape[-2:] == (spectral.kept_row_count(height, modes[0]), modes[1])
    torch.testing.assert_close(kept.reshape(2, 3, -1), full[..., mask].reshape(2, 3, -1))
    back = spectral.irfft2_kept(kept, (height, width), modes, "forward")
    torch.testing.assert_close(back, torch.fft.irfft2(full * mask, s=(height, width), norm="forward"))


def test_hermitian_projection_equals_cpu_irfft2_on_non_hermitian_spectra():
    for h, w in [(6, 5), (6, 6), (7, 8), (1, 4)]:
        z = torch.randn(2, h, w // 2 + 1, dtype=torch.complex128)
        torch.testing.assert_close(spectral.irfft2_hermitian(z, (h, w)), torch.fft.irfft2(z, s=(h, w), norm="ortho"))


def test_zeroing_the_spectrum_column_before_the_row_inverse_is_a_different_projection():
    # The design-notes pitfall: dropping imag(z[:, 0]) before the inverse over rows changes the answer.
    # Only the k_x = 0 column is non-Hermitian, so only it differs; a fixed draw keeps the test deterministic.
    z = torch.zeros(6, 4, dtype=torch.complex128)
    z[:, 0] = torch.randn(6, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    wrong = z.clone()
    wrong[:, 0] = wrong[:, 0].real
    right = spectral.irfft2_hermitian(z, (6, 6))
    assert (torch.fft.irfft2(wrong, s=(6, 6), norm="ortho") - right).norm() > 0.1 * right.norm()


def test_power_spectrum_parseval():
    x = torch.randn(2, 8, 8, 3)
    power = spectral.power_spectrum(x)
    # Parseval with the half spectrum: interior columns count twice.
    weights = torch.ones(5)
    weights[1:4] = 2
    assert (power * weights).sum().item() == pytest.approx(x.pow(2).sum().item() / 6, rel=1e-5)
