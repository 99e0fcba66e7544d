"""Data for pretraining and few-shot segmentation, nothing downloaded at run time.

* :func:`make_segmentation_set`, :func:`sample`: the procedural textured-shape / texture-mosaic set.
* :func:`make_pretraining_images`: unlabelled images from the same generator (base classes).
* :class:`ImageMaskFolder`: your own images and masks.
* :class:`Cityscapes`: Cityscapes in its standard layout (bring it yourself), :func:`write_synthetic_cityscapes`;
  SegFormer's augmentation :class:`SegFormerAugment` and :class:`SegmentationPairs` for pairs in memory.
"""

from .augment import SegFormerAugment, SegmentationPairs
from .cityscapes import Cityscapes, write_synthetic_cityscapes
from .folder import ImageMaskFolder
from .procedural import (
    BASE_CLASSES,
    CONTEXT_BASE_CLASSES,
    CONTEXT_NOVEL_CLASSES,
    LAYOUTS,
    NOVEL_CLASSES,
    SPLITS,
    SegmentationSet,
    class_names,
    make_pretraining_images,
    make_segmentation_set,
    sample,
)
from .shapes import SHAPES
from .textures import CONTEXT_TEXTURES, TEXTURES, texture

__all__ = [
    "BASE_CLASSES",
    "Cityscapes",
    "CONTEXT_BASE_CLASSES",
    "CONTEXT_NOVEL_CLASSES",
    "ImageMaskFolder",
    "LAYOUTS",
    "NOVEL_CLASSES",
    "SHAPES",
    "SPLITS",
    "SegFormerAugment",
    "SegmentationPairs",
    "SegmentationSet",
    "CONTEXT_TEXTURES",
    "TEXTURES",
    "class_names",
    "make_pretraining_images",
    "make_segmentation_set",
    "sample",
    "texture",
    "write_synthetic_cityscapes",
]
