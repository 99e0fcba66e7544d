"""Your own data: a folder of images and integer label masks matched by file stem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _read(path: Path) -> np.ndarray:
    from skimage.io import imread

    try:
        return np.asarray(imread(path))
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"could not read {path}: {exc}") from exc


class ImageMaskFolder(torch.utils.data.Dataset):
    """Images and segmentation masks from ``root/images/*.png|jpg|jpeg`` and ``root/masks/*.png``.

    An image and its mask share a file stem (``images/cat.jpg`` <-> ``masks/cat.png``). Masks are single-channel
    PNGs whose pixel values are class indices ``0 .. num_classes-1``. Every pair is checked when the folder is
    opened: missing folders, unmatched files, mismatched sizes and out-of-range labels raise a ``ValueError``
    naming the file.

    ``folder[i]`` is a dict: ``image`` ``(3, H, W)`` float32 in [0, 1] (grey replicated, alpha dropped), ``mask``
    ``(H, W)`` int64, ``class_names``, ``name`` (the stem).

    Args:
        root: the folder holding ``images/`` and ``masks/``.
        num_classes: number of classes; inferred as ``max label + 1`` when ``None``.
        class_names: optional names, ``len == num_classes``.
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
        self.names = sorted(images)
        self._images, self._masks = [], []
        max_label = 0
        for name in self.names:
            image, mask = self._load(images[name], masks[name])
            max_label = max(max_label, int(mask.max()))
            self._images.append(image)
            self._masks.append(mask)
        if num_classes is None:
            num_classes = max_label + 1 if class_names is None else len(class_names)
        if num_classes < 1:
            raise ValueError(f"num_classes: expected a positive int, got {num_classes}")
        for name, mask in zip(self.names, self._masks):
            if int(mask.max()) >= num_classes:
                raise ValueError(
                    f"masks: {masks[name]} has label {int(mask.max())}; expected class indices 0..{num_classes - 1}"
                )
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names: expected {num_classes} names, got {len(class_names)}")
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
        mask = _read(mask_path)
        if mask.ndim != 2:
            raise ValueError(
                f"masks: {mask_path} has shape {mask.shape}; expected a single-channel (H, W) PNG of class indices"
            )
        if not np.issubdtype(mask.dtype, np.integer):
            raise ValueError(f"masks: {mask_path} has dtype {mask.dtype}; expected integer class indices")
        if tuple(mask.shape) != tuple(image.shape[-2:]):
            raise ValueError(
                f"masks: {mask_path} is {mask.shape[0]}x{mask.shape[1]} but its image {image_path} is "
                f"{image.shape[1]}x{image.shape[2]}; expected the same size"
            )
        return image, torch.from_numpy(mask.astype(np.int64))

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
