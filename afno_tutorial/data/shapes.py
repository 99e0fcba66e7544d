"""Binary shape masks for the procedural segmentation set: ellipses, polygons, blobs and upsampled digits.

Every function is ``(rng, height, width) -> (H, W) bool``; shape sizes are relative to the image, so a shape
covers the same fraction of a 64x64 or a 1024x1024 image.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

ShapeFn = Callable[[np.random.Generator, int, int], np.ndarray]


def ellipse(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    from skimage.draw import ellipse as draw_ellipse

    r_radius = rng.uniform(0.15, 0.35) * height
    c_radius = rng.uniform(0.15, 0.35) * width
    centre = rng.uniform(0.25, 0.75) * height, rng.uniform(0.25, 0.75) * width
    mask = np.zeros((height, width), dtype=bool)
    rr, cc = draw_ellipse(*centre, r_radius, c_radius, shape=(height, width), rotation=rng.uniform(0, np.pi))
    mask[rr, cc] = True
    return mask


def polygon(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random star-convex polygon with 3 to 8 vertices."""
    from skimage.draw import polygon as draw_polygon

    n = int(rng.integers(3, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = rng.uniform(0.15, 0.4, n)
    cy, cx = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7)
    rows = (cy + radii * np.sin(angles)) * height
    cols = (cx + radii * np.cos(angles)) * width
    mask = np.zeros((height, width), dtype=bool)
    rr, cc = draw_polygon(rows, cols, shape=(height, width))
    mask[rr, cc] = True
    return mask


def blobs(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth random blobs (``skimage.data.binary_blobs``) covering about a quarter of the image."""
    from skimage.data import binary_blobs

    length = max(height, width)
    mask = binary_blobs(length=length, blob_size_fraction=0.2, volume_fraction=0.25, rng=int(rng.integers(2**31)))
    return np.ascontiguousarray(mask[:height, :width])


@lru_cache(maxsize=None)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # ships with scikit-learn, no download

    bunch = load_digits()
    return bunch.images / 16.0, bunch.target


def digit_shape(digits: tuple[int, ...]) -> ShapeFn:
    """Upsampled scikit-learn digits drawn from the classes ``digits`` (8x8 images, bilinear, thresholded)."""

    def shape(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        from skimage.transform import resize

        images, targets = _digits()
        choices = np.flatnonzero(np.isin(targets, digits))
        glyph = images[int(rng.choice(choices))]
        size_h = max(8, int(rng.uniform(0.5, 0.8) * height))
        size_w = max(8, int(rng.uniform(0.5, 0.8) * width))
        big = resize(glyph, (size_h, size_w), order=1, anti_aliasing=False) > 0.4
        mask = np.zeros((height, width), dtype=bool)
        top = int(rng.integers(height - size_h + 1))
        left = int(rng.integers(width - size_w + 1))
        mask[top : top + size_h, left : left + size_w] = big
        return mask

    return shape


SHAPES: dict[str, ShapeFn] = {
    "ellipse": ellipse,
    "polygon": polygon,
    "blobs": blobs,
    "digit_0-4": digit_shape((0, 1, 2, 3, 4)),
    "digit_5-9": digit_shape((5, 6, 7, 8, 9)),
}
"""All shape kinds by name."""
