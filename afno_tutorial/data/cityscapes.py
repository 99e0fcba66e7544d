"""Cityscapes over its standard folder layout, labels mapped with the official table of ``cityscapesScripts``.

Layout (what the Cityscapes website's ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip`` unpack to)::

    ROOT/leftImg8bit/{train,val,test}/{city}/{city}_{seq}_{frame}_leftImg8bit.png
    ROOT/gtFine/{train,val,test}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png

``ROOT`` defaults to the ``CITYSCAPES_DATASET`` environment variable, the one ``cityscapesScripts`` reads. The
label images hold label ids 0-33; training uses the 19 *train ids* of the label table, every other id becoming the
ignore label 255. Nothing is downloaded: register on the Cityscapes website and unpack the two archives.
:func:`write_synthetic_cityscapes` writes a small tree in the same layout (for tests and demonstrations).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .augment import IGNORE_INDEX, SegFormerAugment

CITYSCAPES_ENV = "CITYSCAPES_DATASET"
SPLITS = ("train", "val", "test")
NUM_TRAIN_IDS = 19
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"


@lru_cache(maxsize=1)
def _label_table() -> tuple:
    try:
        from cityscapesscripts.helpers.labels import labels
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the Cityscapes label table comes from cityscapesScripts: pip install 'afno-tutorial[segformer]'"
        ) from exc
    return tuple(labels)


def train_id_lut() -> torch.Tensor:
    """``(256,)`` int64: label id -> train id (0-18), 255 for every id that is not trained on."""
    lut = torch.full((256,), IGNORE_INDEX, dtype=torch.long)
    for label in _label_table():
        if 0 <= label.id < 256 and 0 <= label.trainId < NUM_TRAIN_IDS:
            lut[label.id] = label.trainId
    return lut


def class_names() -> list[str]:
    """The 19 train classes' names, in train-id order (``road``, ``sidewalk``, ..., ``bicycle``)."""
    names = {label.trainId: label.name for label in _label_table() if 0 <= label.trainId < NUM_TRAIN_IDS}
    return [names[i] for i in range(NUM_TRAIN_IDS)]


def class_colours() -> np.ndarray:
    """``(19, 3)`` uint8: the official colour of each train class."""
    colours = {label.trainId: label.color for label in _label_table() if 0 <= label.trainId < NUM_TRAIN_IDS}
    return np.array([colours[i] for i in range(NUM_TRAIN_IDS)], dtype=np.uint8)


def label_ids_to_train_ids(label_ids: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Map a label-id image ``(H, W)`` (uint8 or int) to train ids (int64, 255 = ignored)."""
    ids = label_ids.long() if isinstance(label_ids, torch.Tensor) else torch.from_numpy(np.array(label_ids)).long()
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) > 255):
        raise ValueError(f"label_ids: expected label ids in 0..255, got {int(ids.min())}..{int(ids.max())}")
    return train_id_lut()[ids]


def _read_png(path: Path, rgb: bool) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 (``rgb``) or as stored (a label image: ``(H, W)``)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB") if rgb else image)
    except OSError as exc:
        raise ValueError(f"could not read {path}: {exc}") from exc


def _resolve_root(root: str | Path | None) -> Path:
    if root is None:
        value = os.environ.get(CITYSCAPES_ENV)
        if not value:
            raise ValueError(f"root: expected the Cityscapes folder, or the environment variable {CITYSCAPES_ENV} "
                             "set to it; got neither")  # fmt: skip
        root = value
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ValueError(f"root: expected the Cityscapes folder (with leftImg8bit/ and gtFine/), {path} does not exist")
    return path


class Cityscapes(torch.utils.data.Dataset):
    """Cityscapes images and fine annotations in train ids: ``dataset[i] = (image, mask)``.

    ``image`` is ``(3, H, W)`` float32 in [0, 1], ``mask`` ``(H, W)`` int64 in 0-18 with 255 for ignored pixels.
    Every image's annotation is checked when the dataset opens: a missing folder or label file raises a
    ``ValueError`` naming it.

    Args:
        root: the folder holding ``leftImg8bit/`` and ``gtFine/``; default ``$CITYSCAPES_DATASET``.
        split: ``"train"``, ``"val"`` or ``"test"`` (the test labels are withheld by Cityscapes: all ignored).
        crop_size: the training crop (``1024`` as SegFormer). With it, ``augment`` defaults to True.
        augment: apply :class:`~afno_tutorial.data.augment.SegFormerAugment` in ``dataset[i]`` and
            :meth:`augment` (default: ``crop_size is not None``). Without it items are full frames, for the
            sliding-window evaluation.
        scale_range, flip, photometric, cat_max_ratio: of the augmentation.
        cities: only these cities (folder names).
        limit: only the first ``limit`` frames (sorted by file name).

    ``load(i)`` gives frame ``i`` unaugmented; ``augment(image, mask, generator)`` draws the augmentation from
    ``generator`` (what the training loop uses, so that a sample depends on its seed alone).
    """

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "train",
        crop_size: int | tuple[int, int] | None = None,
        *,
        augment: bool | None = None,
        scale_range: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
        photometric: bool = True,
        cat_max_ratio: float = 0.75,
        cities: list[str] | None = None,
        limit: int | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        self.root = _resolve_root(root)
        self.split = split
        augment = crop_size is not None if augment is None else bool(augment)
        if augment and crop_size is None:
            raise ValueError("crop_size: expected the training crop (e.g. 1024) with augment=True, got None")
        if not augment and crop_size is not None:
            raise ValueError(f"crop_size: random crops are part of the augmentation; got crop_size={crop_size!r} with "
                             "augment=False (evaluation runs on full frames with a sliding window)")  # fmt: skip
        self.augmentation = (SegFormerAugment(crop_size, scale_range, flip, photometric, cat_max_ratio)
                             if augment else None)  # fmt: skip
        image_dir, label_dir = self.root / "leftImg8bit" / split, self.root / "gtFine" / split
        for folder in (image_dir, label_dir):
            if not folder.is_dir():
                raise ValueError(f"root: expected the folder {folder} (Cityscapes layout), it is missing")
        images = sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}"))
        if cities is not None:
            unknown = sorted(set(cities) - {p.parent.name for p in images})
            if unknown:
                raise ValueError(f"cities: no images of {unknown} in {image_dir}")
            images = [p for p in images if p.parent.name in set(cities)]
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"limit: expected a positive int, got {limit!r}")
            images = images[:limit]
        if not images:
            raise ValueError(f"root: no images */*{IMAGE_SUFFIX} in {image_dir}")
        labels = [label_dir / p.parent.name / (p.name[: -len(IMAGE_SUFFIX)] + LABEL_SUFFIX) for p in images]
        missing = [str(p) for p in labels if not p.is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise ValueError(f"gtFine: missing annotation {', '.join(missing[:3])}{more}")
        self.images, self.labels = images, labels
        self.class_names = class_names()
        self.num_classes = NUM_TRAIN_IDS

    def __repr__(self) -> str:
        return (f"Cityscapes(root={str(self.root)!r}, split={self.split!r}, frames={len(self)}, "
                f"augment={self.augmentation})")

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame ``index`` unaugmented: ``(image (3, H, W) float32 in [0, 1], mask (H, W) int64 train ids)``."""
        image_path, label_path = self.images[index], self.labels[index]
        image = _read_png(image_path, rgb=True)
        label = _read_png(label_path, rgb=False)
        if label.ndim != 2:
            raise ValueError(f"gtFine: {label_path} has shape {label.shape}; expected a single-channel label-id image")
        if label.shape != image.shape[:2]:
            raise ValueError(f"gtFine: {label_path} is {label.shape[0]}x{label.shape[1]} but its image is "
                             f"{image.shape[0]}x{image.shape[1]}; expected the same size")  # fmt: skip
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
        return tensor, label_ids_to_train_ids(label)

    def augment(self, image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None):
        """The training augmentation (identity when ``augment`` is off), drawn from ``generator``."""
        return (image, mask) if self.augmentation is None else self.augmentation(image, mask, generator)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.augment(*self.load(index))


# Label ids the synthetic frames use: trained classes and ignored ones (unlabeled, ego vehicle, out of roi, parking).
_SYNTHETIC_IDS = {"sky": 23, "building": 11, "vegetation": 21, "road": 7, "sidewalk": 8, "car": 26, "person": 24,
                  "pole": 17, "unlabeled": 0, "ego vehicle": 1, "out of roi": 3, "parking": 9}  # fmt: skip


def write_synthetic_cityscapes(
    root: str | Path,
    frames: dict[str, int] | None = None,
    size: tuple[int, int] = (64, 128),
    cities: tuple[str, ...] = ("aachen", "bochum"),
    seed: int = 0,
) -> Path:
    """Write a small street-scene tree in the exact Cityscapes layout; returns ``root``.

    Each frame has sky, buildings, vegetation, road and sidewalk bands, cars, people and poles, an ego-vehicle
    strip at the bottom, an out-of-roi border, unlabeled and parking patches (label ids that map to 255). Pixels
    take their class's official colour plus noise, so a model can learn them in a few steps.

    Args:
        root: folder to create ``leftImg8bit/`` and ``gtFine/`` in.
        frames: frames per split (default ``{"train": 4, "val": 2}``), spread over ``cities``.
        size: ``(H, W)`` of each frame (Cityscapes: 1024 x 2048).
    """
    from PIL import Image

    frames = {"train": 4, "val": 2} if frames is None else frames
    height, width = size
    if height < 16 or width < 16:
        raise ValueError(f"size: expected at least 16 x 16, got {size!r}")
    colour = {label.id: label.color for label in _label_table()}
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in frames.items():
        if split not in SPLITS:
            raise ValueError(f"frames: expected splits among {SPLITS}, got {split!r}")
        for n in range(count):
            city = cities[n % len(cities)]
            ids = _synthetic_label_ids(rng, height, width)
            rgb = np.array([colour[i] for i in range(34)], dtype=np.float64)[ids]
            rgb = np.clip(rgb + rng.normal(0.0, 12.0, rgb.shape), 0, 255).astype(np.uint8)
            stem = f"{city}_{n:06d}_{19 + n:06d}"
            for sub, suffix, array in (("leftImg8bit", IMAGE_SUFFIX, rgb), ("gtFine", LABEL_SUFFIX, ids)):
                folder = root / sub / split / city
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(folder / (stem + suffix))
    return root


def _synthetic_label_ids(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    ids = _SYNTHETIC_IDS
    out = np.empty((height, width), dtype=np.uint8)
    horizon = int(height * rng.uniform(0.3, 0.45))
    out[:horizon] = ids["sky"]
    skyline = horizon - rng.integers(0, max(2, horizon // 2), size=width // 8 + 1).repeat(8)[:width]
    rows = np.arange(height)[:, None]
    out[(rows >= skyline[None, :]) & (rows < horizon)] = ids["building"]
    road_top = int(height * rng.uniform(0.55, 0.65))
    out[horizon:road_top] = ids["vegetation"]
    out[road_top:] = ids["road"]
    out[road_top:, : width // 6] = ids["sidewalk"]
    for _ in range(rng.integers(1, 4)):
        w, h = int(width * rng.uniform(0.1, 0.2)), int(height * rng.uniform(0.08, 0.15))
        top, left = int(rng.integers(road_top - h // 2, height - h)), int(rng.integers(0, width - w))
        out[top : top + h, left : left + w] = ids["car"]
    for _ in range(rng.integers(1, 3)):
        w, h = max(2, width // 40), int(height * 0.2)
        top, left = int(rng.integers(horizon, height - h)), int(rng.integers(0, width - w))
        out[top : top + h, left : left + w] = ids["person"]
    pole = int(rng.integers(width // 4, width - 2))
    out[horizon // 2 : road_top, pole : pole + max(1, width // 64)] = ids["pole"]
    out[int(height * 0.92) :] = ids["ego vehicle"]
    out[:, :2] = ids["out of roi"]
    top, left = int(rng.integers(0, height - 4)), int(rng.integers(0, width - 4))
    out[top : top + 4, left : left + 4] = ids["unlabeled"]
    out[road_top : road_top + 3, width // 2 : width // 2 + width // 8] = ids["parking"]
    return out


__all__ = [
    "CITYSCAPES_ENV",
    "Cityscapes",
    "NUM_TRAIN_IDS",
    "class_colours",
    "class_names",
    "label_ids_to_train_ids",
    "train_id_lut",
    "write_synthetic_cityscapes",
]
