"""Your own data: a folder of images and integer label masks matched by file stem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checks import IGNORE_INDEX

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# PIL modes whose pixel values are class indices as stored: grey levels (8, 16 or 32 bit), palette indices
# (Pascal VOC's masks are palette PNGs: the index is the class, the palette only colours it), 1-bit (0 or 1).
_INDEX_MODES = ("L", "P", "1", "I", "I;16", "I;16B", "I;16L")


def _read(path: Path) -> np.ndarray:
    from skimage.io import imread

    try:
        return np.asarray(imread(path))
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"could not read {path}: {exc}") from exc


def _read_mask(path: Path) -> np.ndarray:
    """The class indices stored in a mask PNG, never its colours: ``(H, W)`` integers."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode = image.mode
            labels = np.asarray(image) if mode in _INDEX_MODES else None
            shape = (image.height, image.width, len(image.getbands()))
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"could not read {path}: {exc}") from exc
    if labels is None:
        raise ValueError(
            f"masks: {path} has shape {shape} (PNG mode {mode!r}); expected a single-channel (H, W) PNG of class "
            "indices (grey levels, a palette image or 1-bit), not colours"
        )
    return labels.astype(np.int64)


class ImageMaskFolder(torch.utils.data.Dataset):
    """Images and segmentation masks from ``root/images/*.png|jpg|jpeg`` and ``root/masks/*.png``.

    An image and its mask share a file stem (``images/cat.jpg`` <-> ``masks/cat.png``). Masks are single-channel
    PNGs whose pixel values are class indices ``0 .. num_classes-1``: grey-level PNGs (8 or 16 bit), palette PNGs
    (read as their palette indices, the Pascal VOC convention; the palette's colours are ignored) or 1-bit PNGs
    (0 and 1). The label 255 (:data:`afno_tutorial.checks.IGNORE_INDEX`, VOC's and Cityscapes' "void") marks pixels
    to ignore: it is never a class, and the training losses and metrics skip it. Every pair is checked when the
    folder is opened: missing folders, unmatched files, mismatched sizes and out-of-range labels raise a
    ``ValueError`` naming the file.

    ``folder[i]`` is a dict: ``image`` ``(3, H, W)`` float32 in [0, 1] (grey replicated, alpha dropped), ``mask``
    ``(H, W)`` int64, ``class_names``, ``name`` (the stem).

    Args:
        root: the folder holding ``images/`` and ``masks/``.
        num_classes: number of classes, at most 255; when ``None``, the length of ``class_names`` if given, else
            the largest label (other than 255) plus one.
        class_names: optional names, one per class.
    """

    def __init__(self, root: str | Path, num_classes: int | None = None, class_names: list[str] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"root: expected a folder with images/ and masks/, {self.root} does not exist")
        image_dir, mask_dir = self.root / "images", self.root / "masks"
        for sub in (image_dir, mask_dir):
            if not sub.is_dir():
                raise ValueError(f"root: expected a folder {sub.name}/ inside {self.root}, it is missing")
        images = {p.stem: p for p in sorted(image_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        masks = {p.stem: p for p in sorted(mask_dir.iterdir()) if p.suffix.lower() == ".png"}
        if not images:
            raise ValueError(f"root: no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
        if len(images) != len([p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]):
            raise ValueError(f"root: two images in {image_dir} share a file stem")
        no_mask = sorted(set(images) - set(masks))
        no_image = sorted(set(masks) - set(images))
        if no_mask:
            raise ValueError(f"masks: no mask {mask_dir}/<stem>.png for the images {no_mask}")
        if no_image:
            raise ValueError(f"images: no image {image_dir}/<stem>.png|jpg for the masks {no_image}")
        if class_names is not None and (isinstance(class_names, str) or not hasattr(class_names, "__len__")):
            raise TypeError(f"class_names: expected a list of names, got {type(class_names).__name__}")
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= IGNORE_INDEX
        ):
            raise ValueError(f"num_classes: expected an int from 1 to {IGNORE_INDEX} ({IGNORE_INDEX} is the ignore "
                             f"label), got {num_classes!r}")
        if num_classes is not None and class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names: expected {num_classes} names (num_classes), got {len(class_names)}")
        self.names = sorted(images)
        self._images, self._masks = [], []
        for name in self.names:
            image, mask = self._load(images[name], masks[name])
            self._images.append(image)
            self._masks.append(mask)
        from_names = num_classes is None and class_names is not None
        if from_names:
            num_classes = len(class_names)
            if not 1 <= num_classes <= IGNORE_INDEX:
                raise ValueError(f"class_names: expected 1 to {IGNORE_INDEX} names, got {num_classes}")
        elif num_classes is None:
            labelled = [(int(m[m != IGNORE_INDEX].max()), name) for name, m in zip(self.names, self._masks)
                        if bool((m != IGNORE_INDEX).any())]
            if not labelled:
                raise ValueError(f"masks: every pixel is the ignore label {IGNORE_INDEX}; pass num_classes")
            top, where = max(labelled)
            if top >= IGNORE_INDEX:
                raise ValueError(f"num_classes: cannot infer it: {masks[where]} has label {top}; expected class "
                                 f"indices 0..{IGNORE_INDEX - 1} ({IGNORE_INDEX} = ignore)")
            num_classes = top + 1
        for name, mask in zip(self.names, self._masks):
            bad = mask[(mask >= num_classes) & (mask != IGNORE_INDEX)]
            if bad.numel() and from_names:
                raise ValueError(f"class_names: {num_classes} names, but {masks[name]} has label {int(bad.max())}; "
                                 f"expected one name per class (labels 0..{num_classes - 1}, {IGNORE_INDEX} = ignore)")
            if bad.numel():
                raise ValueError(f"masks: {masks[name]} has label {int(bad.max())}; expected class indices "
                                 f"0..{num_classes - 1} (num_classes={num_classes}; {IGNORE_INDEX} = ignore)")
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(num_classes)]

    @staticmethod
    def _load(image_path: Path, mask_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
        image = _read(image_path)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"images: {image_path} has shape {image.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
        scale = 65535.0 if image.dtype == np.uint16 else 255.0 if image.dtype == np.uint8 else 1.0
        image = torch.from_numpy(np.ascontiguousarray(image[..., :3]).astype(np.float32) / scale).permute(2, 0, 1)
        mask = _read_mask(mask_path)
        if int(mask.min()) < 0:
            raise ValueError(f"masks: {mask_path} has label {int(mask.min())}; expected class indices >= 0")
        if tuple(mask.shape) != tuple(image.shape[-2:]):
            raise ValueError(
                f"masks: {mask_path} is {mask.shape[0]}x{mask.shape[1]} but its image {image_path} is "
                f"{image.shape[1]}x{image.shape[2]}; expected the same size"
            )
        return image, torch.from_numpy(mask)

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> dict:
        return {
            "image": self._images[index],
            "mask": self._masks[index],
            "class_names": self.class_names,
            "name": self.names[index],
        }

    def stack(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``images (N, 3, H, W)``, ``masks (N, H, W)`` when all pairs have one size (else a ``ValueError``)."""
        sizes = {tuple(m.shape) for m in self._masks}
        if len(sizes) != 1:
            raise ValueError(f"images: expected one size to stack, got {sorted(sizes)}; resize or crop them first")
        return torch.stack(self._images), torch.stack(self._masks)

