"""SciPy's FFT (pocketfft) as the fast AFNO path calls it: on PyTorch's thread count, visible to ``torch.profiler``.

Only SciPy's public calls are used. (SciPy's private binding of pocketfft can write a transform into a given
array, which let the path keep its spectrum and output in pooled buffers; it was removed when
``benchmarks/cpu_path_ablation.py`` measured it under the 10 % a piece of the fast path must earn:
``benchmarks/README.md``.)
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch


def _threads() -> int:
    return max(1, torch.get_num_threads())


def scipy_fft(name: str, a: np.ndarray, **kwargs: object) -> np.ndarray:
    """``scipy.fft.<name>(a, **kwargs)`` on ``torch.get_num_threads()`` threads, named ``scipy.fft.<name>`` for
    ``torch.profiler`` (:mod:`afno_tutorial.bench.profile` counts it as an FFT)."""
    with torch.profiler.record_function(f"scipy.fft.{name}"):
        return getattr(scipy.fft, name)(a, workers=_threads(), **kwargs)


def fft_inplace(name: str, view: np.ndarray, **kwargs: object) -> None:
    """``view[...] = scipy.fft.<name>(view, **kwargs)`` for a complex ``view`` (``"fft"`` or ``"ifft"``), in place.

    SciPy does so itself for ``overwrite_x=True`` (strided views included); should a version return new memory
    instead, the result is copied back."""
    result = scipy_fft(name, view, overwrite_x=True, **kwargs)
    if not (np.shares_memory(result, view) and result.strides == view.strides):
        view[...] = result


def rfft(x: np.ndarray, norm: str) -> np.ndarray:
    """``scipy.fft.rfft(x, axis=2, norm=norm)`` of a real ``x: (B, H, W, C)``: ``(B, H, W//2+1, C)`` complex."""
    return scipy_fft("rfft", x, axis=2, norm=norm)


def irfft(half: np.ndarray, width: int, norm: str) -> np.ndarray:
    """``scipy.fft.irfft(half, n=width, axis=2, norm=norm)`` of a complex ``half: (B, H, W//2+1, C)`` (which it may
    overwrite): ``(B, H, width, C)`` real."""
    return scipy_fft("irfft", half, n=width, axis=2, norm=norm, overwrite_x=True)
