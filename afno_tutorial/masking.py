"""Masked-patch inpainting: which patches to hide, and the loss on the hidden pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import check_pair


def random_patch_mask(
    batch: int,
    grid_size: tuple[int, int] | int,
    ratio: float = 0.5,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A ``(batch, h, w)`` bool mask hiding exactly ``round(ratio * h * w)`` random patches per image.

    Args:
        batch: number of images.
        grid_size: token grid ``(h, w)``.
        ratio: fraction of patches hidden, in ``[0, 1)``.
        generator: for reproducible masks.
    """
    h, w = check_pair(grid_size, "grid_size")
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio: expected a fraction in [0, 1), got {ratio}")
    count = round(ratio * h * w)
    scores = torch.rand(batch, h * w, generator=generator)
    hidden = scores.argsort(dim=1)[:, :count]
    mask = torch.zeros(batch, h * w, dtype=torch.bool)
    mask.scatter_(1, hidden, True)
    return mask.reshape(batch, h, w).to(device) if device is not None else mask.reshape(batch, h, w)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the pixels of hidden patches only.

    Args:
        pred, target: ``(B, C, H, W)``.
        patch_mask: ``(B, h, w)`` bool, ``H = h * p``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred: expected the shape of target {tuple(target.shape)}, got {tuple(pred.shape)}")
    pixel_mask = F.interpolate(patch_mask[:, None].float(), size=target.shape[-2:], mode="nearest")
    err = (pred - target).pow(2) * pixel_mask
    return err.sum() / (pixel_mask.sum() * target.shape[1]).clamp_min(1.0)
