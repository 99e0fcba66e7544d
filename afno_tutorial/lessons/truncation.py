"""Keeping a set of Fourier modes of an image: low-pass reconstruction and its error.

This is what a spectral mixer's hard truncation does to a feature map: every ``rfft2`` bin outside the kept set
is set to zero, so the map keeps only its smooth (low-frequency) part.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .. import spectral


def apply_spectral_mask(image: torch.Tensor, mask: torch.Tensor, norm: str = "ortho") -> torch.Tensor:
    """Zero every ``rfft2`` bin where ``mask`` is False and transform back.

    Args:
        image: ``(..., H, W)`` real.
        mask: ``(H, W//2 + 1)`` bool in the ``rfft2`` layout (e.g. :func:`afno_tutorial.spectral.kept_mode_mask`).

    Returns:
        ``(..., H, W)`` real: the real field nearest to the masked spectrum.
    """
    height, width = image.shape[-2:]
    expected = (height, width // 2 + 1)
    if tuple(mask.shape) != expected:
        raise ValueError(f"mask: expected shape {expected} (the rfft2 layout of the image), got {tuple(mask.shape)}")
    z = torch.fft.rfft2(image, norm=norm) * mask.to(image.device)
    return spectral.irfft2_hermitian(z, (height, width), norm=norm)


def lowpass(image: torch.Tensor, modes: int | tuple[int, int]) -> torch.Tensor:
    """Keep the lowest modes ``|k_y| < m_y`` (both signs) and ``k_x < m_x`` of ``image: (..., H, W)``."""
    if isinstance(modes, int) and not isinstance(modes, bool):
        modes = (modes, modes)
    modes = spectral.check_modes(modes)
    height, width = image.shape[-2:]
    spectral.check_modes_fit(modes, height, width)
    return apply_spectral_mask(image, spectral.kept_mode_mask(height, width, modes))


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """``||approx - exact|| / ||exact||`` (Frobenius norms over all elements)."""
    return float((approx - exact).norm() / exact.norm().clamp_min(1e-12))


def truncation_curve(image: torch.Tensor, mode_counts: Sequence[int]) -> dict[str, list[float]]:
    """Relative reconstruction error and fraction of ``rfft2`` bins kept, for square kept sets ``m = m_y = m_x``.

    Returns ``{"modes": [...], "error": [...], "kept_fraction": [...]}``.
    """
    height, width = image.shape[-2:]
    total = height * (width // 2 + 1)
    out: dict[str, list[float]] = {"modes": [], "error": [], "kept_fraction": []}
    for m in mode_counts:
        out["modes"].append(float(m))
        out["error"].append(relative_error(lowpass(image, m), image))
        out["kept_fraction"].append(float(spectral.kept_mode_mask(height, width, (m, m)).sum()) / total)
    return out
