"""SpectralConv2d (FNO) and GlobalFilter2d (GFNet): parity with plain formulas, shift equivariance, resolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from reference import band_limited_field

from afno_tutorial import GlobalFilter2d, SpectralConv2d, spectral


def _fno(dim=8, modes=(3, 3), num_blocks=1, seed=0):
    torch.manual_seed(seed)
    return SpectralConv2d(dim, modes, num_blocks=num_blocks).double()


def test_fno_matches_dense_per_mode_formula():
    layer = _fno(dim=6, modes=(3, 2))
    x = torch.randn(2, 9, 8, 6, dtype=torch.float64)
    spec = torch.fft.rfft2(x, dim=(1, 2), norm="forward")  # (B, H, W//2+1, C)
    out = torch.zeros_like(spec)
    weight = torch.view_as_complex(layer.weight[0]).detach()  # (R, M, C, C)
    for r, ky in enumerate([0, 1, 2, -2, -1]):
        for kx in range(2):
            out[:, ky % 9, kx] = spec[:, ky % 9, kx] @ weight[r, kx]
    expected = torch.fft.irfft2(out, s=(9, 8), dim=(1, 2), norm="forward")
    torch.testing.assert_close(layer(x), expected)


def test_fno_block_diagonal_equals_dense_with_block_diagonal_weights():
    blocked = _fno(dim=8, num_blocks=4)
    dense = _fno(dim=8, num_blocks=1)
    with torch.no_grad():
        dense.weight.zero_()
        for j in range(4):
            dense.weight[0, :, :, 2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = blocked.weight[j]
    x = torch.randn(1, 8, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(dense(x), blocked(x))
    assert sum(p.numel() for p in blocked.parameters()) * 4 == sum(p.numel() for p in dense.parameters())


@pytest.mark.parametrize("layer", [_fno(), GlobalFilter2d(8, (10, 9)).double()], ids=["fno", "gfn"])
def test_commutes_with_circular_shifts(layer):
    x = torch.randn(2, 10, 9, 8, dtype=torch.float64)
    for shifts in [(1, 0), (0, 4), (3, 7)]:
        rolled = layer(torch.roll(x, shifts, dims=(1, 2)))
        torch.testing.assert_close(rolled, torch.roll(layer(x), shifts, dims=(1, 2)), rtol=1e-10, atol=1e-10)


def test_fno_is_resolution_independent():
    layer = _fno(dim=4, modes=(4, 4))
    coarse, fine = band_limited_field(16, 4, max_freq=3), band_limited_field(32, 4, max_freq=3)
    torch.testing.assert_close(layer(fine)[:, ::2, ::2], layer(coarse))


def test_fno_output_lies_in_the_kept_modes():
    layer = _fno(dim=4, modes=(2, 3))
    y = layer(torch.randn(1, 12, 12, 4, dtype=torch.float64))
    power = torch.fft.rfft2(y, dim=(1, 2)).abs().amax(dim=(0, 3))
    kept = spectral.kept_mode_mask(12, 12, (2, 3))
    assert torch.all(power[~kept] < 1e-10) and torch.all(power[kept] > 1e-8)


def test_gfn_matches_filter_formula_at_its_size():
    torch.manual_seed(0)
    layer = GlobalFilter2d(4, (6, 8)).double()
    x = torch.randn(2, 6, 8, 4, dtype=torch.float64)
    kernel = torch.view_as_complex(layer.complex_weight.detach())  # (H, W//2+1, C)
    expected = torch.fft.irfft2(torch.fft.rfft2(x, dim=(1, 2), norm="ortho") * kernel, s=(6, 8), dim=(1, 2),
                                norm="ortho")
    torch.testing.assert_close(layer(x), expected)


def test_gfn_resizes_its_filter_bilinearly_at_other_resolutions():
    torch.manual_seed(0)
    layer = GlobalFilter2d(3, (8, 8)).double()
    kernel = layer.filter_for(16, 12)
    assert kernel.shape == (16, 7, 3)
    w = layer.complex_weight.detach().permute(2, 3, 0, 1).reshape(1, 6, 8, 5)
    resized = F.interpolate(w, size=(16, 7), mode="bilinear", align_corners=True).reshape(3, 2, 16, 7)
    torch.testing.assert_close(kernel.real.detach(), resized[:, 0].permute(1, 2, 0))
    torch.testing.assert_close(kernel.imag.detach(), resized[:, 1].permute(1, 2, 0))
    assert layer(torch.randn(1, 16, 12, 3, dtype=torch.float64)).shape == (1, 16, 12, 3)


def test_fno_rejects_grids_too_small_for_its_modes():
    with pytest.raises(ValueError, match="modes"):
        _fno(modes=(5, 3))(torch.randn(1, 8, 8, 8, dtype=torch.float64))


def test_gradients_reach_every_parameter():
    for layer in (_fno(), GlobalFilter2d(8, (6, 6)).double()):
        x = torch.randn(1, 7, 6, 8, dtype=torch.float64, requires_grad=True)
        layer(x).pow(2).sum().backward()
        for name, p in layer.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fno_loads_state_dicts_with_real_imaginary_first():
    layer = _fno(dim=4, modes=(2, 3), num_blocks=2)
    old_layout = {"weight": layer.weight.detach().permute(5, 0, 1, 2, 3, 4).clone()}  # (2, k, R, M, b, b)
    fresh = _fno(dim=4, modes=(2, 3), num_blocks=2, seed=1)
    fresh.load_state_dict(old_layout)
    torch.testing.assert_close(fresh.weight, layer.weight)
    with pytest.raises(RuntimeError, match="size mismatch"):
        fresh.load_state_dict({"weight": torch.zeros(3, 3)})
