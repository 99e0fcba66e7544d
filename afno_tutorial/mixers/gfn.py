"""GFNet's global filter (Rao et al., NeurIPS 2021): a learned complex filter multiplying every ``rfft2`` bin."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import spectral
from ..checks import check_pair, check_positive_int, check_tokens


class GlobalFilter2d(nn.Module):
    """Global filter ``x: (B, H, W, C) -> irfft2(K * rfft2(x))`` with a learned ``K: (h, w//2 + 1, C)``.

    ``K`` has one complex weight per bin and channel: a depthwise global circular convolution, so the layer
    commutes with circular shifts. At a resolution other than ``size`` the filter is resized bilinearly on its
    real and imaginary parts (GFNet's recipe for dense prediction). ``norm="ortho"`` as in GFNet.

    Args:
        dim: channels ``C``.
        size: ``(h, w)`` the token grid the filter is built for.

    Parameter ``complex_weight``: ``(h, w//2 + 1, dim, 2)`` real/imaginary parts, initialised ``0.02 * randn``.
    """

    def __init__(self, dim: int, size: tuple[int, int] | int = (14, 14)) -> None:
        super().__init__()
        check_positive_int(dim, "dim")
        self.dim = dim
        self.size = check_pair(size, "size")
        h, w = self.size
        self.complex_weight = nn.Parameter(0.02 * torch.randn(h, w // 2 + 1, dim, 2))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, size={self.size}"

    def filter_for(self, height: int, width: int) -> torch.Tensor:
        """The complex filter ``(H, W//2 + 1, C)`` for an ``(H, W)`` grid (resized if it differs from ``size``)."""
        weight = self.complex_weight
        if weight.dtype not in (torch.float32, torch.float64):
            weight = weight.float()  # complex bf16/fp16 does not exist: a model cast to bf16 filters in float32
        target = (height, width // 2 + 1)
        if weight.shape[:2] != target:
            w = weight.permute(2, 3, 0, 1).reshape(1, 2 * self.dim, *weight.shape[:2])
            w = F.interpolate(w, size=target, mode="bilinear", align_corners=True)
            weight = w.reshape(self.dim, 2, *target).permute(2, 3, 0, 1)
        return torch.view_as_complex(weight.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tokens(x, self.dim)
        _, height, width, _ = x.shape
        work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        with spectral.autocast_off(x.device):
            xc = x.to(work_dtype).permute(0, 3, 1, 2).contiguous()
            z = spectral.rfft2_kept(xc, spectral.max_modes(height, width), "ortho")  # (B, C, H, W//2+1)
            kernel = self.filter_for(height, width).to(z.dtype).permute(2, 0, 1)  # (C, H, W//2+1)
            y = spectral.irfft2_hermitian(z * kernel, (height, width), norm="ortho")
        return y.permute(0, 2, 3, 1).to(x.dtype)
