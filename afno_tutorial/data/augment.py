"""SegFormer's training augmentation for ``(image, mask)`` pairs, drawn from a ``torch.Generator``.

The recipe of SegFormer on Cityscapes: random rescale by a factor in ``[0.5, 2.0]``, a random crop (retried so
that no class covers more than 75 % of it), a horizontal flip with probability 0.5, photometric distortion
(brightness, contrast, saturation, hue, each with probability 0.5), and padding to the crop size with the ignore
label. Every random number comes from the generator passed in, so a sample is a function of its seed alone.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..checks import check_pair

IGNORE_INDEX = 255


def _uniform(generator: torch.Generator | None, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _coin(generator: torch.Generator | None, p: float = 0.5) -> bool:
    return float(torch.rand((), generator=generator)) < p


def rescale(image: torch.Tensor, mask: torch.Tensor, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize ``image (3, H, W)`` bilinearly and ``mask (H, W)`` by nearest neighbour to ``round(factor * size)``."""
    size = (max(1, round(image.shape[-2] * factor)), max(1, round(image.shape[-1] * factor)))
    image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    mask = F.interpolate(mask[None, None].float(), size=size, mode="nearest")[0, 0].long()
    return image, mask


def random_crop(
    image: torch.Tensor,
    mask: torch.Tensor,
    crop_size: tuple[int, int],
    generator: torch.Generator | None = None,
    cat_max_ratio: float = 0.75,
    tries: int = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``crop_size`` window (or the whole side where the image is smaller), at a random offset.

    With ``cat_max_ratio < 1`` up to ``tries`` offsets are drawn until the most frequent labelled class covers less
    than that fraction of the labelled pixels (the last draw is kept otherwise).
    """
    height, width = mask.shape
    ch, cw = min(crop_size[0], height), min(crop_size[1], width)
    for _ in range(max(1, tries)):
        top = int(torch.randint(height - ch + 1, (), generator=generator))
        left = int(torch.randint(width - cw + 1, (), generator=generator))
        window = mask[top : top + ch, left : left + cw]
        if cat_max_ratio >= 1.0:
            break
        counts = torch.bincount(window[window != IGNORE_INDEX].reshape(-1))
        counts = counts[counts > 0]
        if counts.numel() > 1 and float(counts.max()) / float(counts.sum()) < cat_max_ratio:
            break
    return image[:, top : top + ch, left : left + cw], mask[top : top + ch, left : left + cw]


def pad_to(image: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad on the bottom and right to ``size``: the image with 0, the mask with :data:`IGNORE_INDEX`."""
    pad_h, pad_w = size[0] - mask.shape[0], size[1] - mask.shape[1]
    if pad_h <= 0 and pad_w <= 0:
        return image, mask
    pad = (0, max(0, pad_w), 0, max(0, pad_h))
    return F.pad(image, pad, value=0.0), F.pad(mask, pad, value=IGNORE_INDEX)


def photometric(image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """SegFormer's photometric distortion of ``image (3, H, W)`` in [0, 1].

    Each with probability 0.5: brightness ``+ U(-32, 32) / 255``; contrast ``x U(0.5, 1.5)`` (before or after the
    colour changes, at random); saturation ``x U(0.5, 1.5)`` and hue ``+ U(-18, 18)`` degrees in HSV. Clipped to
    [0, 1].
    """
    from skimage.color import hsv2rgb, rgb2hsv

    out = image.clone()
    if _coin(generator):
        out = out + _uniform(generator, -32.0, 32.0) / 255.0
    contrast_first = _coin(generator)
    contrast = _uniform(generator, 0.5, 1.5) if _coin(generator) else None
    if contrast is not None and contrast_first:
        out = out * contrast
    saturation = _uniform(generator, 0.5, 1.5) if _coin(generator) else None
    hue = _uniform(generator, -18.0, 18.0) if _coin(generator) else None
    if saturation is not None or hue is not None:
        hsv = rgb2hsv(out.clamp(0, 1).permute(1, 2, 0).numpy().astype(np.float64))
        if saturation is not None:
            hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0.0, 1.0)
        if hue is not None:
            hsv[..., 0] = (hsv[..., 0] + hue / 360.0) % 1.0
        out = torch.from_numpy(hsv2rgb(hsv).astype(np.float32)).permute(2, 0, 1)
    if contrast is not None and not contrast_first:
        out = out * contrast
    return out.clamp(0.0, 1.0)


class SegFormerAugment:
    """The training augmentation as one callable: ``augment(image, mask, generator) -> (image, mask)``.

    Args:
        crop_size: ``(h, w)`` (or an int) of every output; smaller images are padded (mask with 255).
        scale_range: the rescale factor's range (relative to the image's own size; Cityscapes frames are the
            ``2048 x 1024`` SegFormer rescales from).
        flip: horizontal flip with probability 0.5.
        photometric: the photometric distortion (:func:`photometric`).
        cat_max_ratio: the crop's retry rule (1 switches it off).
    """

    def __init__(
        self,
        crop_size: int | tuple[int, int],
        scale_range: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
        photometric: bool = True,
        cat_max_ratio: float = 0.75,
    ) -> None:
        self.crop_size = check_pair(crop_size, "crop_size")
        low, high = scale_range
        if not 0 < low <= high:
            raise ValueError(f"scale_range: expected 0 < low <= high, got {scale_range!r}")
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(f"cat_max_ratio: expected a fraction in (0, 1], got {cat_max_ratio!r}")
        self.scale_range = (float(low), float(high))
        self.flip = bool(flip)
        self.photometric = bool(photometric)
        self.cat_max_ratio = float(cat_max_ratio)

    def __repr__(self) -> str:
        return (f"SegFormerAugment(crop_size={self.crop_size}, scale_range={self.scale_range}, flip={self.flip}, "
                f"photometric={self.photometric}, cat_max_ratio={self.cat_max_ratio})")  # fmt: skip

    def __call__(
        self, image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``image (3, H, W)`` float in [0, 1], ``mask (H, W)`` int64 -> the same at ``crop_size``."""
        image, mask = rescale(image, mask, _uniform(generator, *self.scale_range))
        image, mask = random_crop(image, mask, self.crop_size, generator, self.cat_max_ratio)
        if self.flip and _coin(generator):
            image, mask = image.flip(-1), mask.flip(-1)
        if self.photometric:
            image = photometric(image, generator)
        return pad_to(image.contiguous(), mask.contiguous(), self.crop_size)


class SegmentationPairs(torch.utils.data.Dataset):
    """``(image, mask)`` pairs held in memory, with the training interface of :class:`~afno_tutorial.data.Cityscapes`.

    ``load(i)`` gives pair ``i`` unchanged, ``augment(image, mask, generator)`` applies ``augment`` (if any), and
    ``pairs[i]`` is ``load(i)`` then ``augment`` with the global random state.

    Args:
        images: ``(N, 3, H, W)`` float in [0, 1]; masks: ``(N, H, W)`` int64 (255 = ignored).
        class_names: one name per class.
        augment: a :class:`SegFormerAugment` or ``None``.
    """

    def __init__(self, images: torch.Tensor, masks: torch.Tensor, class_names: list[str],
                 augment: SegFormerAugment | None = None) -> None:  # fmt: skip
        if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
            raise ValueError(f"images: expected a float tensor (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if masks.shape != (images.shape[0],) + images.shape[-2:] or masks.dtype != torch.long:
            raise ValueError(f"masks: expected int64 of shape {(images.shape[0],) + tuple(images.shape[-2:])}, "
                             f"got {masks.dtype} {tuple(masks.shape)}")  # fmt: skip
        self.images, self.masks = images, masks
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.augmentation = augment

    def __len__(self) -> int:
        return self.images.shape[0]

    def load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.masks[index]

    def augment(self, image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None):
        return (image, mask) if self.augmentation is None else self.augmentation(image, mask, generator)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.augment(*self.load(index))


__all__ = ["IGNORE_INDEX", "SegFormerAugment", "SegmentationPairs", "pad_to", "photometric", "random_crop", "rescale"]
