"""Releasing PyTorch's OpenMP worker threads before another thread pool takes the cores.

After a parallel operator PyTorch's OpenMP workers do not sleep at once: they spin for a while (libgomp's default,
some milliseconds) in case more parallel work follows. When what follows is SciPy's FFT, whose own worker threads
need the same cores, the spinning workers take CPU time from it. On this project's 2-core CPU an inverse FFT over
``H`` of a 65,536-token spectrum right after a PyTorch operator took 1.37x as long as with the workers released
first, and without the operator the release changed nothing (``benchmarks/openmp_release.py``). Setting
``OMP_WAIT_POLICY=PASSIVE`` before start-up removes the slowdown too, but then every parallel operator wakes its
workers from sleep, a cost AFNO's many small matrix products would pay each time. AFNO's CPU path
(:mod:`afno_tutorial.mixers._cpu.pocketfft`) hands the cores from PyTorch's matrix products to SciPy's transforms
and back twice per forward and twice per backward.

:func:`release_threads` asks the OpenMP runtime to let go of the calling thread's workers now
(``omp_pause_resource_all(omp_pause_soft)``, OpenMP 5.0). The next parallel operator starts them again. Only the
calling thread's workers are affected, and where no OpenMP runtime with that function is loaded (another
parallel backend, an older runtime) nothing happens. Set :data:`ENABLED` to ``False`` to turn it off.
"""

from __future__ import annotations

import ctypes
import functools
import re

import torch

# Whether release_threads does anything (read on every call).
ENABLED = True
_OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: omp_pause_soft
_RUNTIMES = re.compile(r"/lib(gomp|iomp5|omp)[^/]*\.so[^/]*$")


def _loaded_runtime_paths() -> list[str]:
    """Paths of the OpenMP runtimes mapped into this process (Linux), GNU's first."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split(maxsplit=5)[-1].strip() for line in maps if _RUNTIMES.search(line.strip())}
    except OSError:
        return []
    return sorted(paths, key=lambda p: "gomp" not in p)


@functools.lru_cache(maxsize=1)
def _pause():  # type: ignore[no-untyped-def]
    """``omp_pause_resource_all`` of the OpenMP runtime PyTorch runs on, or ``None``."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None  # another parallel backend: its threads are not OpenMP's
    for path in _loaded_runtime_paths() or [None]:
        try:
            pause = ctypes.CDLL(path).omp_pause_resource_all  # the runtime already loaded: dlopen returns it
        except (OSError, AttributeError):
            continue
        pause.argtypes = [ctypes.c_int]
        pause.restype = ctypes.c_int
        return pause
    return None


def release_available() -> bool:
    """Whether :func:`release_threads` can take effect in this process."""
    return _pause() is not None


def release_threads() -> bool:
    """Let PyTorch's OpenMP workers of the calling thread go now, instead of spinning on the cores another thread
    pool is about to use. Call it outside any parallel region, before handing work to a non-OpenMP pool.

    Returns:
        ``True`` if the runtime released them; ``False`` if disabled (:data:`ENABLED`), unavailable or refused.
    """
    pause = _pause() if ENABLED else None
    return pause is not None and pause(_OMP_PAUSE_SOFT) == 0
