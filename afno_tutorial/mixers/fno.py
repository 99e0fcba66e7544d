"""FNO's spectral convolution (Li et al., ICLR 2021): a learned dense complex channel map per kept mode."""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import spectral
from ..checks import check_positive_int, check_tokens


class SpectralConv2d(nn.Module):
    """Fourier layer ``x: (B, H, W, C) -> (B, H, W, C)``: ``y = irfft2(R_k . rfft2(x)_k)`` on the kept modes.

    Every kept bin ``k`` (``|k_y| < m_y`` on both signs, ``k_x < m_x``) has its own complex ``dim x dim`` weight
    ``R_k`` (block-diagonal with ``num_blocks > 1``, the first step from FNO towards AFNO). The transform is
    forward-normalised and the kept set is absolute, so a trained layer gives the same field at any resolution
    that holds its modes. Being a per-bin linear map it commutes with circular shifts. No skip inside: use it in
    a residual block.

    Args:
        dim: channels ``C``.
        modes: ``(m_y, m_x)``; a grid must satisfy ``2*m_y - 1 <= H`` and ``m_x <= W//2 + 1``.
        num_blocks: 1 for FNO's dense weights; ``k`` for ``k`` diagonal blocks of size ``dim // k``.

    Parameter ``weight``: ``(k, R, m_x, b_in, b_out, 2)`` real/imaginary parts last (so the complex weight is a
    view, not a copy, at every call), ``R = 2*m_y - 1`` rows ordered ``k_y = 0..m_y-1, -(m_y-1)..-1``.
    """

    def __init__(self, dim: int, modes: tuple[int, int] = (8, 8), num_blocks: int = 1) -> None:
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(num_blocks, "num_blocks")
        if dim % num_blocks:
            raise ValueError(f"dim: expected a multiple of num_blocks={num_blocks}, got dim={dim}")
        self.modes = spectral.check_modes(modes)
        self.dim = dim
        self.num_blocks = num_blocks
        self.block_size = dim // num_blocks
        rows = 2 * self.modes[0] - 1
        # Complex entries of variance 1/b keep the per-bin map norm-preserving at initialisation.
        scale = 1.0 / math.sqrt(2 * self.block_size)
        self.weight = nn.Parameter(
            scale * torch.randn(num_blocks, rows, self.modes[1], self.block_size, self.block_size, 2)
        )

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Early checkpoints stored the weight as (2, k, R, M, b, b): move real/imaginary to the last axis.
        key = prefix + "weight"
        stored = state_dict.get(key)
        if stored is not None and stored.shape != self.weight.shape:
            moved = stored.permute(1, 2, 3, 4, 5, 0) if stored.ndim == 6 and stored.shape[0] == 2 else stored
            if moved.shape == self.weight.shape:
                state_dict[key] = moved.contiguous()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, modes={self.modes}, num_blocks={self.num_blocks}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tokens(x, self.dim)
        batch, height, width, _ = x.shape
        spectral.check_modes_fit(self.modes, height, width, allow_nyquist_row=False)
        work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        with spectral.autocast_off(x.device):
            xc = x.to(work_dtype).permute(0, 3, 1, 2).contiguous()
            z = spectral.rfft2_kept(xc, self.modes, "forward")  # (B, C, R, M)
            k, b = self.num_blocks, self.block_size
            z = z.reshape(batch, k, b, *z.shape[-2:])
            weight = torch.view_as_complex(self.weight.to(work_dtype))  # (k, R, M, b_in, b_out), a view
            z = torch.einsum("njirm,jrmio->njorm", z, weight).reshape(batch, self.dim, *z.shape[-2:])
            y = spectral.irfft2_kept(z, (height, width), self.modes, "forward")
        return y.permute(0, 2, 3, 1).to(x.dtype)
