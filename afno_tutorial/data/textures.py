"""Texture classes for the procedural segmentation set: photographs shipped with scikit-image and parametric ones.

Every texture is a function ``(rng, height, width) -> (H, W) float array``, normalised to mean 0.5 and standard
deviation :data:`TEXTURE_STD` so that brightness alone never tells two classes apart: what differs is the
spatial structure, mostly the frequency content. The *context* textures (:data:`CONTEXT_TEXTURES`) are the
exception: a carrier of fixed contrast laid out in a coarse arrangement (see the comment above them). Scales are
in pixels (not relative to the image), so a 1024x1024 image holds the same texture statistics as a 64x64 one, just
more of them.

The photographs (``brick``, ``grass``, ``gravel``) are CC0 images that ship inside scikit-image; they are
downscaled so that a 64x64 crop holds many texture elements (a stationary sample) and mirror-tiled for images
larger than the downscaled photograph.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

TEXTURE_STD = 0.18
TextureFn = Callable[[np.random.Generator, int, int], np.ndarray]

# Downscaling factor per photograph: brick courses are ~60 px tall in the 512 px original, grass blades and
# gravel stones are smaller.
_PHOTO_SCALE = {"brick": 4, "grass": 2, "gravel": 3}


def _normalise(t: np.ndarray) -> np.ndarray:
    t = t - t.mean()
    return 0.5 + TEXTURE_STD * t / max(float(t.std()), 1e-8)


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    """The downscaled, normalised scikit-image photograph ``name`` (loaded without a download)."""
    import skimage.data
    from skimage.transform import rescale

    image = getattr(skimage.data, name)().astype(np.float64) / 255.0
    small = rescale(image, 1.0 / _PHOTO_SCALE[name], anti_aliasing=True)
    return _normalise(small)


def _photo_texture(name: str) -> TextureFn:
    def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        src = _photo(name)
        src = np.rot90(src, k=int(rng.integers(4)))
        if rng.random() < 0.5:
            src = src[:, ::-1]
        # Mirror-tile when the image is larger than the photograph: no seams, statistics unchanged.
        reps = (-(-(height + 1) // src.shape[0]) + 1, -(-(width + 1) // src.shape[1]) + 1)
        if reps != (1, 1):
            src = np.pad(src, ((0, src.shape[0] * (reps[0] - 1)), (0, src.shape[1] * (reps[1] - 1))), mode="symmetric")
        top = int(rng.integers(src.shape[0] - height + 1))
        left = int(rng.integers(src.shape[1] - width + 1))
        return np.ascontiguousarray(src[top : top + height, left : left + width])

    return texture


def _grating(period: float) -> TextureFn:
    """Sinusoidal grating with a random orientation and phase; ``period`` in pixels (jittered by 10 %)."""

    def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        theta = rng.uniform(0.0, np.pi)
        p = period * rng.uniform(0.9, 1.1)
        y, x = np.mgrid[0:height, 0:width]
        phase = 2 * np.pi * (x * np.cos(theta) + y * np.sin(theta)) / p + rng.uniform(0, 2 * np.pi)
        return _normalise(np.sin(phase))

    return texture


def _spectral_noise(amplitude: Callable[[np.ndarray], np.ndarray]) -> TextureFn:
    """White noise shaped in the Fourier domain by ``amplitude(|f|)``, ``|f|`` in cycles per pixel."""

    def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        # Generate on at least 64x64 so that low-frequency bands exist even for tiny images.
        h, w = max(height, 64), max(width, 64)
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :]
        radius = np.sqrt(fy**2 + fx**2)
        spectrum = np.fft.rfft2(rng.standard_normal((h, w))) * amplitude(radius)
        field = np.fft.irfft2(spectrum, s=(h, w))[:height, :width]
        return _normalise(field)

    return texture


def _band_pass(centre: float, octaves: float = 0.5) -> TextureFn:
    def amplitude(f: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_ratio = np.log2(np.where(f > 0, f, 1e-12) / centre)
        return np.exp(-0.5 * (log_ratio / octaves) ** 2) * (f > 0)

    return _spectral_noise(amplitude)


def _power_law(beta: float) -> TextureFn:
    def amplitude(f: np.ndarray) -> np.ndarray:
        return np.where(f > 0, np.maximum(f, 1e-3) ** (-beta), 0.0)

    return _spectral_noise(amplitude)


# ------------------------------------------------------------------------------------------------ context textures
# A class is a fine carrier (band-pass noise or an oriented grating, both with a period of about 3 pixels) switched
# on and off by a coarse arrangement 9-14 pixels across (stripes, spots, checks, holes). Through a 4x4 window a
# class shows its carrier or flat grey (part of each at an edge of the arrangement); which arrangement it is shows
# only around the window, so telling stripes from spots of one carrier takes context beyond a patch.


def _rotated(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(u, v)`` in a frame turned by a random angle, with a random offset."""
    theta = rng.uniform(0.0, np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    y, x = y + rng.uniform(0, 1000), x + rng.uniform(0, 1000)
    return x * np.cos(theta) + y * np.sin(theta), -x * np.sin(theta) + y * np.cos(theta)


def _switch(t: np.ndarray, sharpness: float = 3.0) -> np.ndarray:
    """A smooth step from 0 (``t << 0``) to 1 (``t >> 0``); ``t`` in pixels."""
    return 0.5 * (1.0 + np.tanh(sharpness * t / 2.0))


def _stripes(period: float, duty: float) -> Callable[..., np.ndarray]:
    def envelope(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        u, _ = _rotated(rng, height, width)
        p = period * rng.uniform(0.9, 1.1)
        return _switch(duty * p / 2 - np.abs(np.remainder(u, p) - p / 2))

    return envelope


def _checks(period: float) -> Callable[..., np.ndarray]:
    def envelope(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        u, v = _rotated(rng, height, width)
        p = period * rng.uniform(0.9, 1.1)
        return _switch(np.sin(2 * np.pi * u / p) * np.sin(2 * np.pi * v / p) * p / 4)

    return envelope


def _spots(spacing: float, radius: float, inverse: bool = False) -> Callable[..., np.ndarray]:
    """Discs of ``radius`` around points jittered off a square grid of ``spacing`` pixels."""

    def envelope(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        u, v = _rotated(rng, height, width)
        s = spacing * rng.uniform(0.9, 1.1)
        cu, cv = np.floor(u / s), np.floor(v / s)
        jitter = rng.uniform(0.2, 0.8, size=(2, 64, 64))  # per cell, indexed by the cell number modulo 64
        nearest = np.full(u.shape, np.inf)
        for du in (-1, 0, 1):
            for dv in (-1, 0, 1):
                a, b = cu + du, cv + dv
                ia, ib = np.mod(a, 64).astype(int), np.mod(b, 64).astype(int)
                pu, pv = (a + jitter[0, ia, ib]) * s, (b + jitter[1, ia, ib]) * s
                nearest = np.minimum(nearest, np.hypot(u - pu, v - pv))
        inside = _switch(radius - nearest)
        return 1.0 - inside if inverse else inside

    return envelope


CARRIER_STD = 0.25
# The two fine carriers: isotropic band-pass noise and an oriented grating, both with a period of about 3 pixels.
CARRIERS: dict[str, TextureFn] = {"noise": _band_pass(0.33), "grating": _grating(period=3.0)}
ARRANGEMENTS: dict[str, Callable[..., np.ndarray]] = {
    # few-shot arrangements
    "stripes": _stripes(period=10.0, duty=0.5),
    "spots": _spots(spacing=9.0, radius=2.5),
    # pretraining arrangements
    "checks": _checks(period=12.0),
    "holes": _spots(spacing=10.0, radius=3.0, inverse=True),
}


def _carried(carrier: TextureFn, envelope: Callable[..., np.ndarray]) -> TextureFn:
    """``carrier`` (contrast :data:`CARRIER_STD`) where ``envelope`` is 1, flat grey (0.5) where it is 0. The
    carrier has the same contrast in every class, so the texture's overall standard deviation grows with the area
    the carrier covers (a cue no single patch can read)."""

    def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        on = envelope(rng, height, width)
        return 0.5 + (CARRIER_STD / TEXTURE_STD) * (carrier(rng, height, width) - 0.5) * (0.05 + 0.95 * on)

    return texture


CONTEXT_TEXTURES: dict[str, TextureFn] = {
    f"{c}_{a}": _carried(CARRIERS[c], ARRANGEMENTS[a]) for a in ARRANGEMENTS for c in CARRIERS
}
"""Carrier x arrangement: ``"noise_stripes"``, ``"grating_stripes"``, ``"noise_spots"``, ... A patch sees the
carrier; only the patch's surroundings show the arrangement."""

TEXTURES: dict[str, TextureFn] = {
    "brick": _photo_texture("brick"),
    "grass": _photo_texture("grass"),
    "gravel": _photo_texture("gravel"),
    "grating_coarse": _grating(period=10.0),
    "grating_fine": _grating(period=3.5),
    "noise_coarse": _band_pass(centre=0.05),
    "noise_fine": _band_pass(centre=0.25),
    "pink_noise": _power_law(beta=1.0),
    **CONTEXT_TEXTURES,
}
"""All texture classes by name."""


def texture(name: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One ``(height, width)`` sample of texture ``name`` (mean 0.5, std :data:`TEXTURE_STD`, not clipped)."""
    if name not in TEXTURES:
        raise ValueError(f"name: expected one of {sorted(TEXTURES)}, got {name!r}")
    return TEXTURES[name](rng, height, width)
