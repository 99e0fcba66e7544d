"""Timing, peak memory and power-law fits: the one place where the package measures anything.

The benchmark (:mod:`afno_tutorial.bench`), the FNO-to-AFNO ladder (:mod:`afno_tutorial.lessons.ladder`) and the
few-shot pipeline (:mod:`afno_tutorial.fewshot`) build the call they want measured (a forward, a training step)
and hand it to these functions, so that every number in the tutorial is taken the same way:

- :func:`time_step`: warm-up (calls and seconds), then the median of repeated calls, CUDA synchronised around each.
- :func:`peak_memory_bytes`: the peak bytes one call allocates above what was held before it. On CUDA the
  allocator's own peak; on the CPU either the process's peak resident memory (``method="rss"``: what the machine
  pays, meaningful in a fresh process) or the peak bytes of live tensors the call creates (``method="tensors"``:
  exact and repeatable in any process, blind to memory outside tensors; it rests on PyTorch's private
  ``TorchDispatchMode`` and falls back to ``"rss"``, with a warning, where that is missing or behaves otherwise).
- :func:`fit_slope` and :func:`fit_power_law`: least-squares fits in log-log space (cost ``a * tokens**b``).

This module imports nothing of the package, so any layer may use it.
"""

from __future__ import annotations

import functools
import gc
import math
import statistics
import sys
import time
import warnings
import weakref
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import torch

try:  # private (no public equivalent): only method="tensors" of peak_memory_bytes uses it, behind a checked fallback
    from torch.utils._python_dispatch import TorchDispatchMode as _TorchDispatchMode
except ImportError:
    _TorchDispatchMode = None

#: Least seconds of untimed calls before :func:`time_step` times (read at call time, so it can be changed).
WARMUP_SECONDS = 1.0


def synchronize(device: torch.device | str) -> None:
    """Wait for the device's queued work (a no-op off CUDA)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_step(step: Callable[[], Any], device: torch.device | str = "cpu", repeats: int = 5, warmup: int = 1,
              max_seconds: float = 60.0, warmup_seconds: float | None = None,
              clock: Callable[[], float] = time.perf_counter) -> tuple[float, list[float]]:  # fmt: skip
    """Median wall time of ``step()`` after a warm-up; fewer repeats when one call is slow.

    A process settles over its first calls, not only its first one: the C allocator grows its heap and adapts
    its thresholds to the sizes it sees, and fresh pages are faulted in. A 65,536-token AFNO forward in a fresh
    process on a 2-core CPU is markedly slower for its first four or five calls than after them.

    Args:
        step: the call to time (build it first: a forward under ``torch.no_grad``, a training step, ...).
        device: where it runs; CUDA is synchronised before and after every call.
        repeats: timed calls (at most; fewer when ``repeats`` calls would exceed ``max_seconds``).
        warmup: the least untimed calls before timing.
        max_seconds: the time the timed calls may take together, judged from the fastest warm-up call.
        warmup_seconds: the least seconds spent in untimed calls (``None``: :data:`WARMUP_SECONDS`; capped at
            ``max_seconds``).
        clock: seconds, monotonic (tests pass a fake one).

    Returns:
        ``(median seconds, the seconds of every timed call)``.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: expected a positive integer, got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup: expected a non-negative integer, got {warmup!r}")
    warmup_seconds = WARMUP_SECONDS if warmup_seconds is None else warmup_seconds
    device = torch.device(device)

    def timed() -> float:
        synchronize(device)
        start = clock()
        step()
        synchronize(device)
        return clock() - start

    first, spent, calls = math.inf, 0.0, 0
    while calls < max(1, warmup) or spent < min(warmup_seconds, max_seconds):
        seconds = timed()
        first, spent, calls = min(first, seconds), spent + seconds, calls + 1
    runs = max(1, min(repeats, int(max_seconds / max(first, 1e-9))))
    times = [timed() for _ in range(runs)]
    return statistics.median(times), times


def add_step_time(history: dict, steps: int, seconds: float) -> None:
    """Fold ``steps`` training steps that took ``seconds`` in all into ``history["seconds_per_step"]``, the mean over
    every step timed so far (``history["timed_steps"]`` of them, across the sessions of a resumed run)."""
    if steps == 0:
        return
    done = history["timed_steps"]
    old = history["seconds_per_step"] if done else 0.0
    history["seconds_per_step"] = (old * done + seconds) / (done + steps)
    history["timed_steps"] = done + steps


# ---------------------------------------------------------------------------------------------------- peak memory


class _LiveTensorBytes(_TorchDispatchMode or object):
    """Tracks the bytes of tensor storages created inside the mode that are still alive, and their maximum."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, list] = {}  # storage pointer -> [tensor count, bytes]

    def _release(self, ptr: int) -> None:
        entry = self._refs.get(ptr)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self._refs[ptr]

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr == 0:
            return
        entry = self._refs.get(ptr)
        if entry is None:
            entry = self._refs[ptr] = [0, storage.nbytes()]
            self.live += entry[1]
            self.peak = max(self.peak, self.live)
        entry[0] += 1
        weakref.finalize(t, self._release, ptr)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out


@functools.cache
def _tensor_tracking_works() -> bool:
    """Whether :class:`_LiveTensorBytes` counts a known allocation right (checked once per process)."""
    try:
        mode = _LiveTensorBytes()
        with mode:
            kept = torch.empty(1000, dtype=torch.float32)
        del kept
        return mode.peak == 4000
    except Exception:  # noqa: BLE001 - whatever a changed private class raises, the public measurement stays
        return False


def _read_status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux ``clear_refs``); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes(step: Callable[[], Any]) -> int:
    if _reset_peak_rss():
        before = _read_status_kib("VmRSS")
        out = step()
        peak = _read_status_kib("VmHWM")
        del out
        if before is not None and peak is not None:
            return max(0, peak - before) * 1024
    import resource  # Unix fallback: the growth of the process's lifetime peak (Linux KiB, macOS bytes)

    unit = 1 if sys.platform == "darwin" else 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = step()
    del out
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * unit


def peak_memory_bytes(step: Callable[[], Any], device: torch.device | str = "cpu",
                      method: Literal["rss", "tensors"] = "rss") -> int:  # fmt: skip
    """Peak bytes one call of ``step()`` needs above what was held before it (its result is dropped after).

    Cyclic garbage is collected first: freed during the measured call, it would lower the baseline and hide the
    call's own allocations (a peak of 0 was seen on a GPU for a tiny configuration).

    Args:
        step: the call to measure.
        device: where it runs. On CUDA the result is ``torch.cuda.max_memory_allocated`` above the memory
            allocated before (``method`` does not matter).
        method: on the CPU, ``"rss"``: the process's peak resident memory (``VmHWM``, reset first) minus its resident
            memory before, every allocation included (tensors, NumPy arrays, the allocator's own slack); meaningful
            in a fresh process, where earlier calls have not left freed memory to reuse. ``"tensors"``: the peak
            bytes of tensor storages that operators create during the call and that are still alive (inputs and
            parameters not counted); exact and the same in any process, but blind to memory outside PyTorch's
            operators (a SciPy transform's arrays). It needs PyTorch's private ``TorchDispatchMode``, checked once
            per process on a known allocation; where it is missing or counts wrong, ``"rss"`` is measured instead,
            with a ``RuntimeWarning``.
    """
    if method not in ("rss", "tensors"):
        raise ValueError(f"method: expected 'rss' or 'tensors', got {method!r}")
    device = torch.device(device)
    gc.collect()
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        out = step()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        del out
        return int(peak)
    if method == "tensors" and not _tensor_tracking_works():
        warnings.warn("peak_memory_bytes: method='tensors' needs PyTorch's private TorchDispatchMode "
                      "(torch.utils._python_dispatch), missing or changed in this PyTorch; measuring the resident "
                      "memory instead (method='rss')", RuntimeWarning, stacklevel=2)
        method = "rss"
    if method == "tensors":
        mode = _LiveTensorBytes()
        with mode:
            out = step()
        del out
        return int(mode.peak)
    return _peak_rss_bytes(step)


# ---------------------------------------------------------------------------------------------------------- fits


def fit_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log(y)`` against ``log(x)`` (1: linear, 2: quadratic).

    Points with a non-positive (or missing) value are left out; NaN with fewer than two points left or a single
    ``x``."""
    pairs = [(math.log(a), math.log(b)) for a, b in zip(x, y) if a > 0 and b and b > 0]
    if len(pairs) < 2:
        return math.nan
    mx = sum(p[0] for p in pairs) / len(pairs)
    my = sum(p[1] for p in pairs) / len(pairs)
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    return sum((p[0] - mx) * (p[1] - my) for p in pairs) / sxx if sxx > 0 else math.nan


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least-squares fit of ``y = a * x**b`` in log-log space: returns ``(a, b)`` (``b`` from :func:`fit_slope`).

    Raises ValueError when fewer than two points with positive values (at distinct ``x``) remain."""
    b = fit_slope(x, y)
    if math.isnan(b):
        points = list(zip(x, y))
        raise ValueError(f"x, y: expected at least two points with positive values at distinct x, got {points}")
    pairs = [(a, v) for a, v in zip(x, y) if a > 0 and v and v > 0]
    a = math.exp(sum(math.log(v) - b * math.log(t) for t, v in pairs) / len(pairs))
    return a, b


__all__ = [
    "WARMUP_SECONDS",
    "add_step_time",
    "fit_power_law",
    "fit_slope",
    "peak_memory_bytes",
    "synchronize",
    "time_step",
]
