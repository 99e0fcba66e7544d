"""How FFT normalisation ties Fourier coefficients to the grid size, and what that means at a new resolution.

Sample the same function ``f`` on an ``N x N`` grid. Its ``rfft2`` coefficient at a fixed frequency grows as
``N^2`` with ``norm="backward"`` (the unscaled sum), as ``N`` with ``"ortho"`` (divided by ``sqrt(N^2)``) and
stays constant with ``"forward"`` (divided by ``N^2``, the Fourier-series coefficient). A spectral mixer with a
fixed threshold ``lambda`` or bias therefore sees different numbers at another resolution unless it uses
``"forward"``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .. import spectral
from ..checks import check_positive_int


def sample_function(size: int, frequency: tuple[int, int] = (1, 2)) -> torch.Tensor:
    """``f(y, x) = cos(2 pi (k_y y + k_x x)) + 0.5`` sampled on ``size x size`` points of ``[0, 1)^2``: ``(N, N)``."""
    check_positive_int(size, "size")
    t = torch.arange(size, dtype=torch.float64) / size
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return torch.cos(2 * math.pi * (frequency[0] * yy + frequency[1] * xx)) + 0.5


def norm_scaling(sizes: Sequence[int], frequency: tuple[int, int] = (1, 2)) -> dict[str, list[float]]:
    """``|rfft2(f)|`` at bin ``frequency`` for each grid side in ``sizes`` and each ``norm``.

    Returns ``{"size": [...], "backward": [...], "ortho": [...], "forward": [...]}``; ``"forward"`` gives the
    same number (0.5, half the cosine's amplitude) at every size.
    """
    out: dict[str, list[float]] = {"size": [], "backward": [], "ortho": [], "forward": []}
    for n in sizes:
        if 2 * max(abs(frequency[0]), abs(frequency[1])) >= n:
            raise ValueError(f"sizes: a grid of side {n} cannot hold frequency {frequency} below Nyquist")
        f = sample_function(n, frequency)
        out["size"].append(float(n))
        for norm in ("backward", "ortho", "forward"):
            z = torch.fft.rfft2(f, norm=norm)
            out[norm].append(float(z[frequency[0] % n, frequency[1]].abs()))
    return out


def band_limit(x: torch.Tensor) -> torch.Tensor:
    """Remove the Nyquist row/column (and anything at ``|k| >= N/2``) of ``x: (B, H, W, C)``.

    What is left is represented exactly on any finer grid: the common ground for comparing two resolutions.
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected (B, H, W, C), got shape {tuple(x.shape)}")
    height, width = x.shape[1:3]
    modes = ((height + 1) // 2, (width + 1) // 2)  # |k_y| < H/2, k_x < W/2 for even sizes
    z = torch.fft.rfft2(x.permute(0, 3, 1, 2), norm="forward")
    z = z * spectral.kept_mode_mask(height, width, modes).to(z.device)
    return spectral.irfft2_hermitian(z, (height, width), norm="forward").permute(0, 2, 3, 1)


def fourier_upsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Trigonometric interpolation of ``x: (B, H, W, C)`` to ``(B, factor*H, factor*W, C)``.

    The band-limited part of ``x`` (see :func:`band_limit`) sampled on the finer grid: its forward-normalised
    Fourier coefficients are unchanged, the new bins are zero.
    """
    check_positive_int(factor, "factor")
    height, width = x.shape[1:3]
    modes = ((height + 1) // 2, (width + 1) // 2)
    xc = band_limit(x).permute(0, 3, 1, 2)
    z = spectral.rfft2_kept(xc, modes, "forward")
    up = spectral.irfft2_kept(z, (factor * height, factor * width), modes, "forward")
    return up.permute(0, 2, 3, 1)


@torch.no_grad()
def resolution_consistency(mixer: torch.nn.Module, x: torch.Tensor, factor: int = 2) -> float:
    """How differently a mixer acts on a finer sampling of the same field.

    ``||f(up(x)) - up(f(x))|| / ||up(f(x))||`` with ``x`` band-limited, ``up`` = :func:`fourier_upsample` and ``f``
    the mixing part (AFNO's skip removed). 0 means the mixer computes the same continuous field at both
    resolutions.
    """
    from .probes import mixing_part

    x = band_limit(x)
    fine = mixing_part(mixer, fourier_upsample(x, factor))
    coarse = fourier_upsample(mixing_part(mixer, x), factor)
    return float((fine - coarse).norm() / coarse.norm().clamp_min(1e-12))
