"""SciPy's FFT (pocketfft) as the fast AFNO path calls it: on PyTorch's thread count, visible to ``torch.profiler``,
writing its large outputs into pooled buffers.

``scipy.fft.rfft`` and ``irfft`` always allocate their result. SciPy's private binding of pocketfft
(``scipy.fft._pocketfft.pypocketfft``: ``r2c``, ``c2r``) can write into a given array, here a buffer of
:data:`~afno_tutorial.mixers._cpu.buffer_pool.POOL`. It is private, so it is used only behind a fallback to the public
call: once per process each function is checked against the public one on a small array (the same numbers, into the
given array), and any call that raises ``TypeError`` or returns another array falls back too (and stops using it).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch

from .buffer_pool import POOL

try:
    from scipy.fft._pocketfft import pypocketfft as _pypocketfft
except ImportError:  # a SciPy without it: the public calls
    _pypocketfft = None

# pypocketfft's normalisation (0: none, 1: 1/sqrt(N), 2: 1/N) of a forward and of an inverse transform, by `norm`
_FORWARD_INORM = {"backward": 0, "ortho": 1, "forward": 2}
_INVERSE_INORM = {"backward": 2, "ortho": 1, "forward": 0}
# (function name, id of the binding) -> whether it passed the check against the public call
_VERIFIED: dict[tuple[str, int], bool] = {}


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


def _call_private(name: str, source: np.ndarray, out: np.ndarray, *args: object) -> bool:
    """``pypocketfft.<name>(source, (2,), *args, out, threads)`` into ``out``; ``False`` (nothing written that is
    used) where the binding is missing, failed its check, or this call raises ``TypeError`` or returns elsewhere."""
    binding = _pypocketfft
    if binding is None or not _verified(name, binding):
        return False
    try:
        with torch.profiler.record_function(f"scipy.fft.{'rfft' if name == 'r2c' else 'irfft'}"):
            result = getattr(binding, name)(source, (2,), *args, out, _threads())
    except TypeError:  # a changed signature: the public call from now on
        _VERIFIED[(name, id(binding))] = False
        return False
    if not (isinstance(result, np.ndarray) and result.shape == out.shape and np.shares_memory(result, out)):
        _VERIFIED[(name, id(binding))] = False
        return False
    return True


def _verified(name: str, binding: object) -> bool:
    """Whether ``binding.<name>`` gives the public call's numbers into the array it is given (checked once)."""
    key = (name, id(binding))
    if key not in _VERIFIED:
        _VERIFIED[key] = _check(name, binding)
    return _VERIFIED[key]


def _check(name: str, binding: object) -> bool:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((1, 3, 6, 2))
    try:
        for norm in _FORWARD_INORM:
            if name == "r2c":
                out = np.empty((1, 3, 4, 2), np.complex128)
                result = binding.r2c(real, (2,), True, _FORWARD_INORM[norm], out, 1)
                expected = scipy.fft.rfft(real, axis=2, norm=norm)
            else:
                half = scipy.fft.rfft(real, axis=2) * (1 + 0.5j)
                out = np.empty((1, 3, 6, 2), np.float64)
                result = binding.c2r(half.copy(), (2,), 6, False, _INVERSE_INORM[norm], out, 1)
                expected = scipy.fft.irfft(half, n=6, axis=2, norm=norm)
            if not (np.shares_memory(result, out) and np.allclose(out, expected, rtol=1e-10, atol=1e-12)):
                return False
    except Exception:  # noqa: BLE001 - whatever a changed private function raises, the public call stays
        return False
    return True


def rfft_pooled(x: np.ndarray, norm: str) -> np.ndarray:
    """``scipy.fft.rfft(x, axis=2, norm=norm)`` of a real ``x: (B, H, W, C)``: ``(B, H, W//2+1, C)`` complex, in a
    buffer of :data:`~afno_tutorial.mixers._cpu.buffer_pool.POOL` where SciPy's private binding can write there."""
    if x.flags.c_contiguous:
        batch, height, width, channels = x.shape
        out = POOL.empty((batch, height, width // 2 + 1, channels), np.result_type(x.dtype, np.complex64))
        if _call_private("r2c", x, out, True, _FORWARD_INORM[norm]):
            return out
    return scipy_fft("rfft", x, axis=2, norm=norm)


def irfft_pooled(half: np.ndarray, width: int, norm: str) -> np.ndarray:
    """``scipy.fft.irfft(half, n=width, axis=2, norm=norm)`` of a complex ``half: (B, H, W//2+1, C)`` (overwritten):
    ``(B, H, width, C)`` real, in a pooled buffer where SciPy's private binding can write there. This is the array
    the path returns (the output, or the input's gradient): its buffer stays taken while the caller holds it."""
    if half.flags.c_contiguous:
        batch, height, _, channels = half.shape
        out = POOL.empty((batch, height, width, channels), np.finfo(half.dtype).dtype)
        if _call_private("c2r", half, out, width, False, _INVERSE_INORM[norm]):
            return out
    return scipy_fft("irfft", half, n=width, axis=2, norm=norm, overwrite_x=True)
