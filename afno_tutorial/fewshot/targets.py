"""What masked pretraining predicts at a hidden patch: its pixels, and its local texture energy.

Pixels of a stochastic texture cannot be predicted from the context (the best guess under a squared error is the
local mean), so a backbone trained on pixels alone learns little about texture. What the context does determine
is the texture's *statistics*: how much energy the hidden patch has at each scale and orientation. Predicting
those (in the spirit of MaskFeat, which predicts HOG descriptors of hidden patches) makes the backbone recognise,
at every visible patch, which texture it sits in, and carry that to the hidden patch next to it.

:func:`filter_bank` builds log-Gabor filters (Gaussian in log radius and in angle, one-sided so that each filter's
output is complex and its modulus a smooth envelope); :func:`texture_energy` applies them in the Fourier domain and
averages the log-energy over each patch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..checks import check_pair, check_positive_int

# Centre frequencies in cycles per pixel, an octave apart: from 4-pixel to 32-pixel periods.
CENTRES = (0.25, 0.125, 0.0625, 0.03125)
ORIENTATIONS = 4


def filter_bank(
    size: int | tuple[int, int],
    centres: tuple[float, ...] = CENTRES,
    orientations: int = ORIENTATIONS,
    octaves: float = 0.6,
) -> torch.Tensor:
    """``(len(centres) * orientations, H, W)`` real frequency responses on the ``fft2`` grid of an ``H x W`` image.

    Filter ``(s, o)``: ``exp(-log2(|f| / centres[s])**2 / (2 octaves**2)) * exp(-d**2 / (2 sigma**2))`` with ``d``
    the angle between ``f`` and orientation ``o * pi / orientations`` (wrapped to ``(-pi, pi]``, so the filter
    covers one side of the spectrum only) and ``sigma = pi / (2 orientations)``; zero at ``f = 0``.
    """
    height, width = check_pair(size, "size")
    check_positive_int(orientations, "orientations")
    if not centres or any(not 0 < c <= 0.5 for c in centres):
        raise ValueError(f"centres: expected frequencies in (0, 0.5] cycles per pixel, got {centres!r}")
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None].expand(height, width)
    fx = torch.fft.fftfreq(width, dtype=torch.float64)[None, :].expand(height, width)
    radius = torch.sqrt(fy**2 + fx**2)
    angle = torch.atan2(fy, fx)
    sigma = math.pi / (2 * orientations)
    log_r = torch.log2(radius.clamp_min(1e-12))
    filters = []
    for centre in centres:
        radial = torch.exp(-((log_r - math.log2(centre)) ** 2) / (2 * octaves**2)) * (radius > 0)
        for o in range(orientations):
            d = torch.remainder(angle - o * math.pi / orientations + math.pi, 2 * math.pi) - math.pi
            filters.append(radial * torch.exp(-(d**2) / (2 * sigma**2)))
    return torch.stack(filters).float()


def texture_energy(images: torch.Tensor, patch_size: int, bank: torch.Tensor | None = None,
                   pools: tuple[int, ...] = (1,)) -> torch.Tensor:
    """Per-patch log-energy of the filter bank's responses: ``(B, C, H, W) -> (B, H/p, W/p, F * len(pools))``.

    The grey image (channel mean) is filtered in the Fourier domain; the squared modulus of each complex response
    is averaged over every ``p x p`` patch and ``log(1e-4 + .)`` taken. For each ``k`` in ``pools`` that map is
    averaged over the ``k x k`` patches around each patch (``k = 1``: the patch itself; larger ``k``: the statistics
    of its surroundings, which only context can give).
    """
    if images.ndim != 4:
        raise ValueError(f"images: expected (B, C, H, W), got {tuple(images.shape)}")
    check_positive_int(patch_size, "patch_size")
    height, width = images.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f"images: expected H, W multiples of patch_size={patch_size}, got {(height, width)}")
    bank = filter_bank((height, width)) if bank is None else bank
    if bank.shape[-2:] != (height, width):
        raise ValueError(f"bank: expected filters of size {(height, width)}, got {tuple(bank.shape[-2:])}")
    with torch.autocast(device_type=images.device.type, enabled=False):
        grey = images.float().mean(1)  # (B, H, W)
        spectrum = torch.fft.fft2(grey)[:, None]  # (B, 1, H, W)
        response = torch.fft.ifft2(spectrum * bank.to(images.device))  # (B, F, H, W) complex
        log_energy = torch.log(1e-4 + F.avg_pool2d(response.abs() ** 2, patch_size))  # (B, F, h, w)
        maps = [log_energy if k == 1 else F.avg_pool2d(log_energy, k, 1, k // 2, count_include_pad=False)
                for k in pools]
    return torch.cat(maps, 1).permute(0, 2, 3, 1)


def standardise(t: torch.Tensor, dims: tuple[int, ...] = (0, 1, 2)) -> torch.Tensor:
    """``(t - mean) / std`` over ``dims`` (the batch and the grid by default), each channel on its own."""
    mean = t.mean(dims, keepdim=True)
    std = t.std(dims, keepdim=True).clamp_min(1e-6)
    return (t - mean) / std
