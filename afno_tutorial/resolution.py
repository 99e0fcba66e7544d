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

from . import spectral
from .checks import check_positive_int


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
