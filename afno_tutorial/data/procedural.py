"""The procedural few-shot segmentation set: textured shapes and texture mosaics, deterministic from a seed.

Each image is tiled into regions, each filled with one texture class; the mask labels every pixel with the index
of its texture class. Two layouts:

* ``"shapes"``: a background texture and 1-3 shapes (ellipse, polygon, blobs, digit) filled with other textures;
* ``"mosaic"``: a Voronoi partition into 2-4 cells, one texture each.

Each image gets one random tint, each region a small brightness/contrast jitter drawn from the same distribution
for all classes: neither colour nor brightness names the class, the texture does. Sample ``i`` depends only on
``(seed, i)`` (not on ``n``), at any size from 32x32 to 1024x1024.

Class split (few-shot on classes never seen in pretraining):

* ``"base"``: :data:`BASE_CLASSES` textures, shapes ellipse/polygon/blobs and digits 0-4. Unlabelled pretraining
  images (:func:`make_pretraining_images`) come from this split.
* ``"novel"``: :data:`NOVEL_CLASSES` textures, the same geometric shapes and digits 5-9. The few-shot task.
* ``"context_base"``, ``"context_novel"``: the same split for the *context* textures
  (:data:`~afno_tutorial.data.textures.CONTEXT_TEXTURES`), which share one fine carrier and differ in how it is
  arranged 12-24 pixels around: a 4x4 patch cannot tell them apart, its surroundings can. The few-shot
  benchmark (:mod:`afno_tutorial.fewshot`) uses these.
* ``"all"``: every texture and shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..checks import check_pair, check_positive_int
from .shapes import SHAPES
from .textures import TEXTURES

BASE_CLASSES: tuple[str, ...] = ("brick", "grating_coarse", "noise_fine", "pink_noise")
NOVEL_CLASSES: tuple[str, ...] = ("grass", "gravel", "grating_fine", "noise_coarse")
# The context family (see afno_tutorial.data.textures): one fine carrier arranged in coarse patterns.
CONTEXT_BASE_CLASSES: tuple[str, ...] = ("noise_checks", "grating_checks", "noise_holes", "grating_holes")
CONTEXT_NOVEL_CLASSES: tuple[str, ...] = ("noise_stripes", "grating_stripes", "noise_spots", "grating_spots")
_BASE_SHAPES = ("ellipse", "polygon", "blobs", "digit_0-4")
_NOVEL_SHAPES = ("ellipse", "polygon", "blobs", "digit_5-9")
SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "base": {"classes": BASE_CLASSES, "shapes": _BASE_SHAPES},
    "novel": {"classes": NOVEL_CLASSES, "shapes": _NOVEL_SHAPES},
    "context_base": {"classes": CONTEXT_BASE_CLASSES, "shapes": _BASE_SHAPES},
    "context_novel": {"classes": CONTEXT_NOVEL_CLASSES, "shapes": _NOVEL_SHAPES},
    "all": {"classes": tuple(TEXTURES), "shapes": tuple(SHAPES)},
}
LAYOUTS = ("shapes", "mosaic", "mixed")
MIN_SIZE, MAX_SIZE = 32, 1024
# Separate random streams so that pretraining images are never the segmentation images of the same seed.
_STREAM_SEGMENTATION, _STREAM_PRETRAINING = 0, 1


def class_names(split: str = "novel") -> list[str]:
    """Texture class names of ``split``; mask value ``i`` means ``class_names(split)[i]``."""
    _check_split(split)
    return list(SPLITS[split]["classes"])


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {sorted(SPLITS)}, got {split!r}")


def _check_classes(classes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [c for c in classes if c not in TEXTURES]
    if len(classes) < 2 or unknown or len(set(classes)) != len(classes):
        raise ValueError(f"classes: expected at least two distinct names from {sorted(TEXTURES)}, got {classes!r}")
    return tuple(classes)


def _check_size(size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = check_pair(size, "size")
    if not (MIN_SIZE <= height <= MAX_SIZE and MIN_SIZE <= width <= MAX_SIZE):
        raise ValueError(f"size: expected sizes from {MIN_SIZE} to {MAX_SIZE} pixels, got {(height, width)}")
    return height, width


def _voronoi(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """``(H, W)`` int labels ``0..cells-1`` of the nearest of ``cells`` random points (relative coordinates)."""
    points = rng.uniform(0, 1, (cells, 2))
    ys = (np.arange(height) + 0.5) / height
    xs = (np.arange(width) + 0.5) / width
    best = np.zeros((height, width), dtype=np.int64)
    best_d = np.full((height, width), np.inf)
    for i, (py, px) in enumerate(points):  # loop over cells, not pixels: memory stays O(H W) at 1024x1024
        d = (ys[:, None] - py) ** 2 + (xs[None, :] - px) ** 2
        closer = d < best_d
        best[closer], best_d[closer] = i, d[closer]
    return best


def _render(rng: np.random.Generator, regions: np.ndarray, textures: list[str], height: int, width: int) -> np.ndarray:
    """Fill region ``r`` of ``regions (H, W)`` with texture ``textures[r]``, random colour: ``(3, H, W)`` in [0, 1]."""
    image = np.zeros((3, height, width), dtype=np.float64)
    # One tint per image (colour never names a class) and a small brightness/contrast jitter per region (edges
    # are not free either): the texture is the cue.
    tint = rng.uniform(0.6, 1.0, size=3)
    tint = (tint / tint.max())[:, None]
    for r, name in enumerate(textures):
        inside = regions == r
        if not inside.any():
            continue
        tex = TEXTURES[name](rng, height, width)
        mean = rng.uniform(0.45, 0.55)
        contrast = rng.uniform(0.85, 1.15)
        image[:, inside] = tint * (mean + contrast * (tex[inside][None, :] - 0.5))
    return np.clip(image, 0.0, 1.0)


def sample(
    index: int,
    size: int | tuple[int, int] = 64,
    seed: int = 0,
    split: str = "novel",
    layout: str = "mixed",
    *,
    classes: tuple[str, ...] | None = None,
    stream: int = _STREAM_SEGMENTATION,
) -> dict:
    """Sample ``index`` of the set ``(seed, split, layout)``: a dict with

    ``image`` ``(3, H, W)`` float32 in [0, 1], ``mask`` ``(H, W)`` int64 class indices into ``class_names``,
    ``class_names`` (the split's classes, or ``classes`` when given: any texture names, e.g. an easy
    two-class task), ``layout`` and ``shapes`` (the shape kinds drawn, empty for mosaics).
    """
    height, width = _check_size(size)
    _check_split(split)
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    rng = np.random.default_rng([stream, seed, index])
    classes = SPLITS[split]["classes"] if classes is None else _check_classes(classes)
    kind = layout if layout != "mixed" else ("shapes" if rng.random() < 0.5 else "mosaic")
    drawn: list[str] = []
    if kind == "mosaic":
        cells = int(rng.integers(2, 5))
        regions = _voronoi(rng, height, width, cells)
        labels = rng.choice(len(classes), size=cells, replace=cells > len(classes))
    else:
        count = int(rng.integers(1, 4))
        labels = rng.choice(len(classes), size=min(count + 1, len(classes)), replace=False)
        regions = np.zeros((height, width), dtype=np.int64)  # region 0: background
        shape_kinds = SPLITS[split]["shapes"]
        for r in range(1, len(labels)):
            name = shape_kinds[int(rng.integers(len(shape_kinds)))]
            drawn.append(name)
            regions[SHAPES[name](rng, height, width)] = r  # later shapes occlude earlier ones
    image = _render(rng, regions, [classes[int(c)] for c in labels], height, width)
    mask = np.asarray(labels, dtype=np.int64)[regions]
    return {
        "image": torch.from_numpy(image.astype(np.float32)),
        "mask": torch.from_numpy(mask),
        "class_names": list(classes),
        "layout": kind,
        "shapes": drawn,
    }


@dataclass
class SegmentationSet(torch.utils.data.Dataset):
    """A stack of samples: ``images (N, 3, H, W)`` float32 in [0, 1], ``masks (N, H, W)`` int64, ``class_names``.

    ``set[i]`` is a dict with ``image``, ``mask`` and ``class_names``.
    """

    images: torch.Tensor
    masks: torch.Tensor
    class_names: list[str]
    layouts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.masks.ndim != 3 or self.images.shape[0] != self.masks.shape[0]:
            raise ValueError(
                f"images, masks: expected (N, C, H, W) and (N, H, W), got {tuple(self.images.shape)} and "
                f"{tuple(self.masks.shape)}"
            )
        if self.images.shape[-2:] != self.masks.shape[-2:]:
            raise ValueError(f"masks: expected the image size {tuple(self.images.shape[-2:])}, "
                             f"got {tuple(self.masks.shape[-2:])}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "mask": self.masks[index], "class_names": self.class_names}

    def subset(self, indices: list[int] | torch.Tensor) -> "SegmentationSet":
        """The samples at ``indices`` (e.g. a K-shot support set)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        layouts = [self.layouts[i] for i in idx.tolist()] if self.layouts else []
        return SegmentationSet(self.images[idx], self.masks[idx], list(self.class_names), layouts)


def make_segmentation_set(
    n: int,
    size: int | tuple[int, int] = 64,
    seed: int = 0,
    split: str = "novel",
    layout: str = "mixed",
    start: int = 0,
    classes: tuple[str, ...] | None = None,
) -> SegmentationSet:
    """``n`` labelled samples ``start .. start+n-1`` of the procedural set (see :func:`sample`).

    Args:
        n: number of images.
        size: image size ``(H, W)`` or an int, from 32 to 1024.
        seed: the set's seed; the same ``(seed, index)`` always gives the same sample.
        split: ``"novel"`` (the few-shot classes), ``"base"`` (the pretraining classes) or ``"all"``.
        layout: ``"shapes"``, ``"mosaic"`` or ``"mixed"`` (each image one of the two at random).
        start: index of the first sample (disjoint ranges give disjoint sets).
        classes: texture names overriding the split's classes.
    """
    check_positive_int(n, "n")
    samples = [sample(start + i, size, seed, split, layout, classes=classes) for i in range(n)]
    return SegmentationSet(
        images=torch.stack([s["image"] for s in samples]),
        masks=torch.stack([s["mask"] for s in samples]),
        class_names=samples[0]["class_names"],
        layouts=[s["layout"] for s in samples],
    )


def make_pretraining_images(n: int, size: int = 64, seed: int = 0, split: str = "base") -> torch.Tensor:
    """``(n, 3, size, size)`` float32 unlabelled images in [0, 1] for inpainting pretraining.

    Same generator as :func:`make_segmentation_set` on ``split`` (``"base"``, or ``"context_base"`` for the context
    family: the few-shot classes of ``"novel"``/``"context_novel"`` are never seen in pretraining), from a separate
    random stream; deterministic from ``seed``.
    """
    check_positive_int(n, "n")
    _check_split(split)
    return torch.stack(
        [sample(i, size, seed, split, "mixed", stream=_STREAM_PRETRAINING)["image"] for i in range(n)]
    )
