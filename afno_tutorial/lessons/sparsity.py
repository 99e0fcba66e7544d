"""AFNO's soft-thresholding: how many spectral coefficients ``S_lambda`` zeroes, and which modes survive.

After the shared MLP, ``S_lambda(u) = sign(u) max(|u| - lambda, 0)`` acts on the real and imaginary part of every
channel of every kept bin; a part smaller than ``lambda`` becomes exactly zero. Here ``lambda`` is varied at
inference on a trained mixer to see how sparse its output spectrum is.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .. import spectral
from ..mixers import AFNO2d


def _check(mixer: object, x: torch.Tensor) -> None:
    if not isinstance(mixer, AFNO2d):
        raise TypeError(f"mixer: expected an AFNO2d, got {type(mixer).__name__}")
    if x.ndim != 4 or x.shape[-1] != mixer.dim:
        raise ValueError(f"x: expected (B, H, W, {mixer.dim}), got shape {tuple(x.shape)}")


@torch.no_grad()
def spectral_output(mixer: AFNO2d, x: torch.Tensor, sparsity_threshold: float) -> torch.Tensor:
    """The mixer's kept-bin output spectrum ``S_lambda(MLP(z))`` with ``lambda = sparsity_threshold``.

    Args:
        x: ``(B, H, W, C)`` tokens.

    Returns:
        ``(B, C, R, m_x)`` complex, rows in :func:`afno_tutorial.spectral.rfft2_kept` order.
    """
    _check(mixer, x)
    if sparsity_threshold < 0:
        raise ValueError(f"sparsity_threshold: expected >= 0, got {sparsity_threshold}")
    modes = mixer.kept_modes(*x.shape[1:3])
    z = spectral.rfft2_kept(x.float().permute(0, 3, 1, 2), modes, mixer.fft_norm)
    old = mixer.sparsity_threshold
    mixer.sparsity_threshold = float(sparsity_threshold)
    try:
        return mixer.spectral_mlp(z)
    finally:
        mixer.sparsity_threshold = old


@torch.no_grad()
def mixer_output(mixer: AFNO2d, x: torch.Tensor, sparsity_threshold: float) -> torch.Tensor:
    """``mixer(x)`` evaluated with another ``lambda``: ``irfft2(S_lambda(MLP(z)))`` (plus ``x`` for
    ``inner_skip=True``), ``(B, H, W, C)``."""
    out = spectral_output(mixer, x, sparsity_threshold)
    size = tuple(x.shape[1:3])
    y = spectral.irfft2_kept(out, size, mixer.kept_modes(*size), mixer.fft_norm, mixer.hermitian_projection)
    y = y.permute(0, 2, 3, 1).to(x.dtype)
    return x + y if mixer.inner_skip else y


def zeroed_fraction(
    mixer: AFNO2d, x: torch.Tensor, lambdas: Sequence[float], per: str = "coefficient"
) -> list[float]:
    """How much of the output spectrum ``S_lambda`` zeroes, for each lambda.

    ``per="coefficient"``: the fraction of real and imaginary parts (all kept bins, channels, images) that are
    exactly 0. ``per="mode"``: the fraction of (image, kept bin) pairs whose every channel is 0, i.e. modes
    switched off entirely.
    """
    if per not in ("coefficient", "mode"):
        raise ValueError(f"per: expected 'coefficient' or 'mode', got {per!r}")
    out = []
    for lam in lambdas:
        parts = torch.view_as_real(spectral_output(mixer, x, lam)) == 0  # (B, C, R, M, 2)
        if per == "coefficient":
            out.append(float(parts.float().mean()))
        else:
            out.append(float(parts.all(dim=-1).all(dim=1).float().mean()))
    return out


def surviving_fraction_map(mixer: AFNO2d, x: torch.Tensor, sparsity_threshold: float) -> torch.Tensor:
    """Per ``rfft2`` bin, the fraction of (image, channel) outputs not zeroed: ``(H, W//2 + 1)`` in ``[0, 1]``.

    A part counts as surviving when its real or imaginary part is non-zero; bins outside the kept set are 0.
    """
    z = spectral_output(mixer, x, sparsity_threshold)  # (B, C, R, M)
    alive = ((z.real != 0) | (z.imag != 0)).float().mean(dim=(0, 1))  # (R, M)
    height, width = x.shape[1:3]
    m_y, m_x = mixer.kept_modes(height, width)
    full = torch.zeros(height, width // 2 + 1)
    rows = alive.shape[0]
    if rows < height:
        full[:m_y, :m_x] = alive[:m_y]
        full[height - m_y + 1 :, :m_x] = alive[m_y:]
    else:
        full[:, :m_x] = alive
    return full
