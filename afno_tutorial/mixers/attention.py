"""Multi-head self-attention over all ``H*W`` tokens: the quadratic baseline AFNO is measured against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_positive_int, check_tokens


class SelfAttention2d(nn.Module):
    """Global multi-head self-attention ``x: (B, H, W, C) -> (B, H, W, C)``.

    Uses ``torch.nn.functional.scaled_dot_product_attention`` (flash/memory-efficient kernels where the
    platform has them). Time grows as ``(H*W)^2 * C``; memory as ``(H*W)^2`` per head with the plain kernel.

    Args:
        dim: channels ``C`` (must divide by ``num_heads``).
        num_heads: attention heads.
        qkv_bias: bias in the query/key/value projection.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True) -> None:
        super().__init__()
        check_positive_int(dim, "dim")
        check_positive_int(num_heads, "num_heads")
        if dim % num_heads:
            raise ValueError(f"dim: expected a multiple of num_heads={num_heads}, got dim={dim}")
        self.dim = dim
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tokens(x, self.dim)
        batch, height, width, channels = x.shape
        qkv = self.qkv(x.reshape(batch, height * width, channels))
        qkv = qkv.reshape(batch, height * width, 3, self.num_heads, channels // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, C/heads)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(batch, height, width, channels)
        return self.proj(out)
