"""A toy token mixer registered on import (``tests/test_registry.py``): a depthwise 3x3 convolution."""

from __future__ import annotations

import torch
from torch import nn

from afno_tutorial import register_mixer

NAME = "toy_conv"


class DepthwiseConv2d(nn.Module):
    """``(B, H, W, C) -> (B, H, W, C)``: each channel convolved with its own 3x3 kernel (zero padding)."""

    def __init__(self, dim: int, *, grid_size: tuple[int, int] | None = None, kernel_size: int = 3) -> None:
        super().__init__()
        self.dim = dim
        self.conv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def register() -> None:
    """Register :class:`DepthwiseConv2d` as :data:`NAME` (no FLOP formula, no colour: both come from elsewhere)."""
    register_mixer(NAME, DepthwiseConv2d, label="depthwise conv")


register()
