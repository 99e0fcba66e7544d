"""Large CPU work buffers handed out again from call to call, once nothing refers to them.

A buffer of tens of MiB allocated afresh on every call costs more than the work that fills it. glibc serves
allocations above its mmap threshold (at most 32 MiB) straight from the kernel and gives them back on free, so each
call's buffers are new pages, faulted in and zeroed by the kernel on first touch. The pocketfft AFNO's forward and
backward each write a spectrum and, when a graph is recorded, keep the MLP's bins, hidden activations and mask: at
65,536 tokens and 256 channels about 270 MiB of such buffers per training step, and 128 MiB more for the output and
the input's gradient, which go to the caller (their buffers stay taken while the caller holds them).

:class:`BufferPool` keeps those buffers and hands each one out to one user at a time. A buffer goes back to the pool
when the array handed out is garbage: it is made by ``np.frombuffer`` over a ``memoryview`` of the pooled memory,
so every view of it, and every tensor over it (``torch.from_numpy`` holds the array), refers to it, and a
``weakref.finalize`` on it says when the last one is gone. So a buffer saved for a backward pass comes back when
autograd frees the graph (after the backward, or when the output is dropped), never earlier, and a graph kept
alive keeps its buffers.

The pool keeps at most :attr:`BufferPool.max_idle_bytes` of buffers nobody uses (256 MiB by default; checked
whenever one is taken or comes back); beyond that it lets the oldest go, and
:func:`afno_tutorial.release_cpu_buffers` lets every idle one go. Requests below :attr:`BufferPool.min_bytes` get a
plain ``np.empty`` (the C allocator reuses small blocks itself).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence

import numpy as np
import torch

from ...measure import register_cache_release


class _Buffer:
    __slots__ = ("memory", "busy")

    def __init__(self, nbytes: int) -> None:
        self.memory = np.empty(nbytes, np.uint8)
        self.busy = False


class BufferPool:
    """A pool of large CPU buffers, each handed out to one user at a time.

    Args:
        max_idle_bytes: the most bytes of free buffers kept for later calls.
        min_bytes: smaller requests get a plain ``np.empty`` and are not pooled.
    """

    def __init__(self, max_idle_bytes: int = 256 << 20, min_bytes: int = 4 << 20) -> None:
        if max_idle_bytes < 0:
            raise ValueError(f"max_idle_bytes: expected >= 0, got {max_idle_bytes}")
        self.max_idle_bytes = max_idle_bytes
        self.min_bytes = min_bytes
        self.enabled = True
        self._buffers: list[_Buffer] = []  # oldest first
        # Reentrant: a finalizer may run while this thread holds the lock (a garbage collection inside empty()).
        self._lock = threading.RLock()

    def empty(self, shape: Sequence[int], dtype: np.dtype | type | str) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype``: a free pooled buffer of the same size if
        there is one, else a new one that joins the pool. It stays taken until the array, its views and the tensors
        over it are all garbage."""
        dtype = np.dtype(dtype)
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if not self.enabled or nbytes < self.min_bytes:
            return np.empty(shape, dtype)
        with self._lock:
            buffer = next((b for b in self._buffers if not b.busy and b.memory.nbytes == nbytes), None)
            if buffer is None:
                buffer = _Buffer(nbytes)
                self._buffers.append(buffer)
            buffer.busy = True
            self._trim()
        # The memoryview as base: numpy collapses a view's base only through arrays, so every view of `array`
        # refers to `array` itself, and the finalizer runs only when none is left.
        array = np.frombuffer(memoryview(buffer.memory), dtype=dtype, count=count)
        weakref.finalize(array, self._release, buffer).atexit = False
        return array.reshape(shape)

    def _release(self, buffer: _Buffer) -> None:
        with self._lock:
            buffer.busy = False
            self._trim()  # many graphs freed at once must not leave more than max_idle_bytes behind

    def _trim(self) -> None:
        """Let the oldest free buffers go while the free ones exceed :attr:`max_idle_bytes`."""
        excess = sum(b.memory.nbytes for b in self._buffers if not b.busy) - self.max_idle_bytes
        if excess <= 0:
            return
        kept = []
        for b in self._buffers:
            if not b.busy and excess > 0:
                excess -= b.memory.nbytes
            else:
                kept.append(b)
        self._buffers = kept

    def clear(self) -> int:
        """Let every buffer go: free ones now, taken ones when their users are done with them. Returns the bytes
        of the free ones."""
        with self._lock:
            freed = sum(b.memory.nbytes for b in self._buffers if not b.busy)
            self._buffers = []
        return freed

    def stats(self) -> dict[str, int]:
        """``{"buffers", "bytes", "free_buffers", "free_bytes"}`` of the pool now."""
        with self._lock:
            free = [b for b in self._buffers if not b.busy]
            return {
                "buffers": len(self._buffers),
                "bytes": sum(b.memory.nbytes for b in self._buffers),
                "free_buffers": len(free),
                "free_bytes": sum(b.memory.nbytes for b in free),
            }


#: The pool of the fast AFNO path (:mod:`afno_tutorial.mixers._cpu.pocketfft`); ``POOL.max_idle_bytes`` bounds
#: what it keeps idle, ``POOL.enabled = False`` turns pooling off, ``POOL.clear()`` frees what it holds.
POOL = BufferPool()
# Peak-memory measurements let the pool's buffers go first, so that memory it holds does not hide what a call needs
# (afno_tutorial.measure.peak_memory_bytes).
register_cache_release(POOL.clear)


def pooled_tensor(shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised contiguous CPU tensor from :data:`POOL` (its storage holds the pooled buffer until freed)."""
    if dtype not in _NUMPY_DTYPES:
        raise ValueError(f"dtype: expected one of {sorted(map(str, _NUMPY_DTYPES))}, got {dtype}")
    return torch.from_numpy(POOL.empty(shape, _NUMPY_DTYPES[dtype]))


_NUMPY_DTYPES = {
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.complex64: np.complex64,
    torch.complex128: np.complex128,
    torch.bool: np.bool_,
    torch.uint8: np.uint8,
}
