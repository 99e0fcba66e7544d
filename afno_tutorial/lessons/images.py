"""Real test images for the notebooks, from scikit-image's bundled CC0 data (no download)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_positive_int

_NAMES = ("camera", "astronaut", "coffee", "chelsea", "brick", "grass", "gravel", "coins", "moon")


def load_image(name: str = "camera", size: int | None = 256, gray: bool = True) -> torch.Tensor:
    """A scikit-image sample image as a float32 tensor in ``[0, 1]``.

    Args:
        name: one of ``camera, astronaut, coffee, chelsea, brick, grass, gravel, coins, moon``.
        size: side of the square output (centre crop to a square, then area resize); ``None`` keeps the crop.
        gray: ``True`` returns ``(H, W)`` luminance; ``False`` returns ``(3, H, W)`` (grey images repeated).
    """
    if name not in _NAMES:
        raise ValueError(f"name: expected one of {_NAMES}, got {name!r}")
    from skimage import data

    array = np.asarray(getattr(data, name)(), dtype=np.float32)
    array = array / 255.0 if array.max() > 1.0 else array
    img = torch.from_numpy(array)
    img = img.permute(2, 0, 1)[:3] if img.ndim == 3 else img[None]  # (C, H, W)
    height, width = img.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    img = img[:, top : top + side, left : left + side]
    if size is not None:
        check_positive_int(size, "size")
        img = F.interpolate(img[None], size=(size, size), mode="area" if size < side else "bilinear")[0]
    if gray:
        if img.shape[0] == 3:
            img = (0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2])[None]
        return img[0].clamp(0, 1).contiguous()
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    return img.clamp(0, 1).contiguous()
