"""Where a mixer's time goes: CPU time per call by kind of work, from ``torch.profiler``.

A timing says how long a mixer takes; a profile says which work that time is spent on. It is what explains, for
example, why keeping half of the frequencies on each axis (a quarter of the bins) does not make AFNO four times
faster: the matrix products shrink with the kept bins, the transforms along the half-spectrum axis and the copies
in and out do not.

Each operator's *self* time (time in the operator minus time in the operators it calls) is put into one of
:data:`KINDS`; what the operators do not account for (Python, dispatch, autograd bookkeeping, the profiler's own
cost) is ``"Python and dispatch"``, so the kinds add up to the profiled wall time per call. Page faults on freshly
allocated memory are charged to the operator that first touches it, usually a copy or the final add.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch.profiler import ProfilerActivity, profile

from ..checks import check_positive_int

KINDS = (
    "FFT, real to complex",
    "FFT, complex to real",
    "FFT, complex",
    "matrix products",
    "copies and fills",
    "element-wise and other ops",
    "Python and dispatch",
)

_OP_KIND = {
    "aten::_fft_r2c": "FFT, real to complex",
    "aten::_fft_c2r": "FFT, complex to real",
    "aten::_fft_c2c": "FFT, complex",
    # SciPy's FFTs, as the pocketfft path of AFNO2d names them with torch.profiler.record_function:
    "scipy.fft.rfft": "FFT, real to complex",
    "scipy.fft.irfft": "FFT, complex to real",
    "scipy.fft.fft": "FFT, complex",
    "scipy.fft.ifft": "FFT, complex",
    **{
        f"aten::{name}": "matrix products"
        for name in ("mm", "bmm", "addmm", "baddbmm", "addbmm", "matmul", "_scaled_dot_product_flash_attention_for_cpu",
                     "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                     "_scaled_dot_product_cudnn_attention", "_efficient_attention_forward", "_flash_attention_forward")
    },  # fmt: skip
    **{
        f"aten::{name}": "copies and fills"
        for name in ("copy_", "cat", "fill_", "zero_", "clone", "contiguous", "_to_copy", "constant_pad_nd", "index",
                     "index_put_", "_index_put_impl_", "gather", "scatter", "stack", "flip", "roll")
    },  # fmt: skip
}


def op_kind(name: str) -> str:
    """The kind of work of a profiler event: ``aten::`` operators and SciPy's FFTs (``scipy.fft.*`` ranges) by
    name; anything else (autograd functions, Python) is ``"Python and dispatch"``."""
    if name in _OP_KIND:
        return _OP_KIND[name]
    return "element-wise and other ops" if name.startswith("aten::") else "Python and dispatch"


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send the process's file descriptor 2 to ``/dev/null`` for the block: the profiler's C++ side prints two
    log lines to it on every start and stop, which would fill a notebook's output."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profile_step(step: Callable[[], Any], runs: int = 3, warmup: int = 1, top: int = 12) -> dict[str, Any]:
    """Profile ``runs`` calls of ``step`` on the CPU and split the time per call by kind of work.

    Args:
        step: a call to profile (e.g. a forward under ``no_grad``); CPU work only.
        runs: profiled calls (averaged); ``warmup`` calls run before, unprofiled.
        top: how many of the most expensive operators to list by name.

    Returns:
        ``{"wall_s": seconds per call under the profiler, "kinds": {kind: seconds per call} over :data:`KINDS`
        (summing to ``wall_s``), "ops": {operator: self seconds per call} for the ``top`` most expensive}``.
        The profiler adds a few microseconds per operator, which lands in ``"Python and dispatch"``.
    """
    check_positive_int(runs, "runs")
    for _ in range(warmup):
        step()
    prof = profile(activities=[ProfilerActivity.CPU])
    with _native_stderr_silenced():  # only around start and stop: errors from the step itself still show
        prof.start()
    try:
        start = time.perf_counter()
        for _ in range(runs):
            step()
        wall = (time.perf_counter() - start) / runs
    finally:
        with _native_stderr_silenced():
            prof.stop()
    ops: dict[str, float] = {}
    for event in prof.key_averages():
        ops[event.key] = ops.get(event.key, 0.0) + event.self_cpu_time_total * 1e-6 / runs
    kinds = dict.fromkeys(KINDS, 0.0)
    for name, seconds in ops.items():
        kinds[op_kind(name)] += seconds
    # Time outside every operator (the Python between them) is Python and dispatch too.
    kinds["Python and dispatch"] += max(0.0, wall - sum(kinds.values()))
    ranked = sorted(ops.items(), key=lambda item: -item[1])[:top]
    return {"wall_s": wall, "kinds": kinds, "ops": dict(ranked)}


def kernel_seconds(kinds: Mapping[str, float]) -> float:
    """Seconds in the FFTs and matrix products alone: the compute that no rearrangement of copies removes."""
    return sum(kinds[k] for k in KINDS[:4])


def format_profile(rows: Sequence[Mapping[str, Any]]) -> str:
    """A table of milliseconds per call by kind, one line per benchmark row that has a ``profile``."""
    rows = [r for r in rows if r.get("profile")]
    if not rows:
        return ""
    short = ("r2c", "c2r", "c2c", "matmul", "copy/fill", "elementwise", "python", "total")
    header = f"{'mixer':<40} {'mode':<8} {'tokens':>7} " + " ".join(f"{s:>11}" for s in short)
    lines = [header, "-" * len(header)]
    for r in rows:
        kinds = r["profile"]["kinds"]
        cells = [kinds[k] * 1e3 for k in KINDS] + [r["profile"]["wall_s"] * 1e3]
        lines.append(f"{r['mixer']:<40} {r['mode']:<8} {r['tokens']:>7} " + " ".join(f"{c:>11.2f}" for c in cells))
    lines.append("(milliseconds per call by kind of work, from torch.profiler)")
    return "\n".join(lines)


def check_profile_device(device: torch.device) -> None:
    if device.type != "cpu":
        raise ValueError(f"profile: the operator profile is CPU only, got device {device.type!r}")
