"""Data for pretraining and few-shot segmentation, nothing downloaded at run time.

* :func:`make_segmentation_set`, :func:`sample`: the procedural textured-shape / texture-mosaic set.
* :func:`make_pretraining_images`: unlabelled images from the same generator (base classes).
* :class:`ImageMaskFolder`: your own images and masks.
"""

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
    "CONTEXT_BASE_CLASSES",
    "CONTEXT_NOVEL_CLASSES",
    "ImageMaskFolder",
    "LAYOUTS",
    "NOVEL_CLASSES",
    "SHAPES",
    "SPLITS",
    "SegmentationSet",
    "CONTEXT_TEXTURES",
    "TEXTURES",
    "class_names",
    "make_pretraining_images",
    "make_segmentation_set",
    "sample",
    "texture",
]
