"""The benchmark's run: every mixer x mode x grid, timed and measured, skipped where it cannot fit a budget.

:func:`run_benchmark` (the command line ``python -m afno_tutorial.bench``, :mod:`afno_tutorial.bench.cli`) checks
every setting first (:func:`check_settings`: a bad one is refused before anything runs, with the argument and
the expected value), then for each configuration: builds the module (:mod:`afno_tutorial.bench.specs`), computes
its FLOPs, predicts its time and memory from the smaller grids already measured (a power law through the last
two) and skips it when a prediction exceeds the budget; else times it (:func:`afno_tutorial.measure.time_step`:
warm-up, median of repeats; in a fresh process with ``isolate``, :mod:`afno_tutorial.bench.isolate`) and
measures its peak memory (CUDA: the allocator's peak in this process; CPU: the peak resident memory of a fresh
process). With ``rounds > 1`` every configuration is timed again, round after round, and its time is the median
of the rounds' medians. :func:`sweep_afno` times one AFNO setting at several values.
"""

from __future__ import annotations

import functools
import math
import statistics
import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from .. import measure
from ..checks import check_float, check_positive_int
from ..config import describe_device
from ..mixers import available_mixers, mixer_info
from .isolate import measure_memory_subprocess, time_subprocess
from .profile import check_profile_device, profile_step
from .specs import (
    MODES,
    MixerSpec,
    build_bench_mixer,
    default_mixers,
    flops_counted,
    parse_dtype,
    parse_mixer_spec,
    setup_step,
    theoretical_flops,
)

DEFAULT_GRIDS = (16, 32, 64, 128, 256)


@dataclass(frozen=True)
class _Timing:
    """How every configuration of one run is timed."""

    dim: int
    batch: int
    device: torch.device
    dtype: str
    repeats: int
    warmup: int
    warmup_seconds: float | None
    max_seconds: float
    isolate: bool
    profile: bool

    def time(self, spec: MixerSpec, grid: int, mode: str, profile: bool = False) -> dict[str, Any]:
        """``{"time_s", "times", "profile"}`` of one configuration (``profile``: with the split by kind of work)."""
        if self.isolate:
            return time_subprocess(spec, grid, self.dim, self.batch, self.dtype, mode, self.repeats, self.warmup,
                                   self.max_seconds, profile, self.warmup_seconds)  # fmt: skip
        _, _, step = setup_step(spec, grid, self.dim, self.batch, self.device, parse_dtype(self.dtype), mode)
        seconds, times = measure.time_step(step, self.device, repeats=self.repeats, warmup=self.warmup,
                                           max_seconds=self.max_seconds, warmup_seconds=self.warmup_seconds)
        split = profile_step(step, runs=min(self.repeats, 3), warmup=0) if profile else None
        return {"time_s": seconds, "times": times, "profile": split}

    def memory(self, spec: MixerSpec, grid: int, mode: str) -> int:
        """Peak bytes of one call above what was held before (CPU: in a fresh process)."""
        if self.device.type == "cuda":
            _, _, step = setup_step(spec, grid, self.dim, self.batch, self.device, parse_dtype(self.dtype), mode)
            return measure.peak_memory_bytes(step, self.device)
        return measure_memory_subprocess(spec, grid, self.dim, self.batch, self.dtype, mode)


def check_settings(mixers: Sequence[str | MixerSpec], grids: Sequence[int], dim: int = 256, batch: int = 1,
                   device: str = "cpu", dtype: str = "float32", modes: Sequence[str] = ("forward",),
                   repeats: int = 5, warmup: int = 1, warmup_seconds: float | None = None, time_budget: float = 60.0,
                   memory_budget: float = 8e9, profile: bool = False, isolate: bool = False,
                   rounds: int = 1, memory: bool = True) -> list[MixerSpec]:  # fmt: skip
    """Check every setting of :func:`run_benchmark` before anything runs; returns the parsed mixer specs.

    Each mixer is built once at ``dim`` channels on the smallest grid (on the CPU, nothing run), so that a
    setting no mixer can take (``dim=63`` for AFNO's 8 blocks) is refused here with the constructor's message,
    not met configuration by configuration; and a mixer registered by ``__main__`` is refused where a fresh
    process would have to build it (CPU memory, ``isolate``). Raises ValueError or TypeError naming the argument
    and the value expected.
    """
    check_positive_int(dim, "dim")
    check_positive_int(batch, "batch")
    check_positive_int(repeats, "repeats")
    check_positive_int(rounds, "rounds")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup: expected a non-negative int, got {warmup!r}")
    if warmup_seconds is not None:
        check_float(warmup_seconds, "warmup_seconds", low=0.0)
    check_float(time_budget, "time_budget", low=0.0, low_open=True)
    check_float(memory_budget, "memory_budget", low=0.0, low_open=True)
    if isinstance(grids, (str, bytes)) or not isinstance(grids, Sequence) or not grids:
        raise ValueError(f"grids: expected a non-empty list of positive ints (square grid sides), got {grids!r}")
    for g in grids:
        check_positive_int(g, "grids")
    if isinstance(modes, str) or not modes or any(mode not in MODES for mode in modes):
        raise ValueError(f"modes: expected values from {MODES}, got {modes!r}")
    parse_dtype(dtype)
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if isolate and device != "cpu":
        raise ValueError(f"isolate: timing in fresh processes is CPU only, got device {device!r}")
    if profile:
        check_profile_device(torch.device(device))
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was requested but torch.cuda.is_available() is False")
    if isinstance(mixers, (str, MixerSpec)) or not mixers:
        raise ValueError(f"mixers: expected a non-empty list of mixer specs, got {mixers!r}")
    specs = [parse_mixer_spec(m) if isinstance(m, str) else m for m in mixers]
    fresh = device == "cpu" and (memory or isolate)
    for spec in specs:
        if fresh and spec.name in available_mixers() and mixer_info(spec.name).factory.__module__ == "__main__":
            raise ValueError(f"mixers: {spec.name!r} was registered by __main__, which the fresh process that measures "
                             "CPU memory (and times with isolate) cannot import; register it in an importable module, "
                             "or pass memory=False (--no-memory) and isolate=False")  # fmt: skip
        try:
            build_bench_mixer(spec, dim, min(grids))
        except (ValueError, TypeError) as error:
            raise ValueError(f"mixers: {spec.label!r} cannot be built with dim={dim} on a {min(grids)}x"
                             f"{min(grids)} grid: {error}") from None  # fmt: skip
    return specs


def _extrapolate(history: list[tuple[int, float]], tokens: int) -> float | None:
    """Power-law extrapolation from the last two measured (tokens, value) points (or one point at slope 2)."""
    if not history:
        return None
    if len(history) == 1:
        (t0, v0), slope = history[-1], 2.0  # pessimistic until a slope is known
    else:
        (t1, v1), (t0, v0) = history[-2], history[-1]
        slope = max(1.0, math.log(v0 / v1) / math.log(t0 / t1)) if v0 > 0 and v1 > 0 and t0 != t1 else 2.0
    return v0 * (tokens / t0) ** slope


def _analytic_memory(module: torch.nn.Module, grid: int, dim: int, batch: int, element: int, mode: str) -> float:
    """A rough upper estimate before anything is measured: a few copies of the input, plus the ``(B, heads, N, N)``
    scores of a mixer with ``num_heads`` (attention's math kernel and any backward hold them; flash kernels do
    not)."""
    tokens = grid * grid
    estimate = 6.0 * batch * tokens * dim * max(element, 4)
    heads = getattr(module, "num_heads", 0)
    if isinstance(heads, int) and heads > 0:
        estimate += (2.0 if mode == "backward" else 1.0) * batch * heads * tokens * tokens * max(element, 4)
    if mode == "backward":
        estimate *= 2
    return estimate


def run_benchmark(
    mixers: Sequence[str | MixerSpec] | None = None,
    grids: Sequence[int] = DEFAULT_GRIDS,
    dim: int = 256,
    batch: int = 1,
    device: str = "cpu",
    dtype: str = "float32",
    modes: Sequence[str] = ("forward",),
    repeats: int = 5,
    warmup: int = 1,
    warmup_seconds: float | None = None,
    time_budget: float = 60.0,
    memory_budget: float = 8e9,
    memory: bool = True,
    progress: bool = True,
    profile: bool = False,
    isolate: bool = False,
    rounds: int = 1,
) -> list[dict[str, Any]]:
    """Time (and measure memory of) every mixer x grid x mode; returns one result dict per configuration.

    Args:
        mixers: registry/baseline names or ``name:key=value`` specs; ``None``: every registered mixer
            (:func:`~afno_tutorial.bench.specs.default_mixers`).
        grids: square grid sides ``H = W`` (tokens ``H*W``).
        dim, batch: channels ``C`` and batch ``B``.
        device: ``"cpu"`` or ``"cuda"``.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float64"`` of input and parameters.
        modes: ``"forward"`` (under ``no_grad``) and/or ``"backward"`` (forward + backward).
        repeats, warmup: timed runs (median) and the least number of untimed runs before them.
        warmup_seconds: the least time spent in untimed runs (``None``: :data:`afno_tutorial.measure.WARMUP_SECONDS`).
        time_budget: seconds one run may be predicted to take; slower configurations are skipped.
        memory_budget: bytes one run may be predicted to need; larger configurations are skipped.
        memory: also measure peak memory (CPU: a subprocess per configuration).
        progress: a tqdm bar over configurations.
        profile: also split each configuration's time by kind of work (CPU only;
            :func:`~afno_tutorial.bench.profile.profile_step`), stored under ``"profile"`` (JSON, not CSV).
        isolate: time (and profile) each configuration in a fresh process (CPU only;
            :func:`~afno_tutorial.bench.isolate.time_subprocess`), so that configurations compare like for like.
        rounds: time every configuration this many times, round after round over all configurations, and report
            the median of the rounds' medians (each round's median under ``"round_times_s"``, JSON only). Slow
            drifts of the machine's speed then fall on every configuration alike instead of on whichever ran
            during them; the budgets and the profile use the first round.

    Returns:
        dicts with the keys of :data:`~afno_tutorial.bench.results.CSV_FIELDS`; ``status`` is ``"ok"``,
        ``"skipped"`` (with the estimates and a note) or ``"error"``.
    """
    mixers = default_mixers() if mixers is None else mixers
    specs = check_settings(mixers, grids, dim, batch, device, dtype, modes, repeats, warmup, warmup_seconds,
                           time_budget, memory_budget, profile, isolate, rounds, memory)  # fmt: skip
    dev = torch.device(device)
    element = torch.tensor([], dtype=parse_dtype(dtype)).element_size()
    device_name = describe_device(dev)
    timing = _Timing(dim, batch, dev, dtype, repeats, warmup, warmup_seconds, 4 * time_budget, isolate, profile)

    from tqdm.auto import tqdm

    configs = [(s, m, g) for s in specs for m in modes for g in sorted(grids)]
    results: list[dict[str, Any]] = []
    time_hist: dict[tuple[str, str], list[tuple[int, float]]] = {}
    mem_hist: dict[tuple[str, str], list[tuple[int, float]]] = {}
    timers: dict[int, Callable[[], dict[str, Any]]] = {}  # row index -> a fresh timing of its config
    for spec, mode, grid in tqdm(configs, desc="benchmark", disable=not progress):
        tokens = grid * grid
        key = (spec.label, mode)
        row: dict[str, Any] = {
            "mixer": spec.label, "mode": mode, "grid": grid, "tokens": tokens, "dim": dim, "batch": batch,
            "device": device_name, "dtype": dtype, "status": "ok", "time_s": None, "time_min_s": None,
            "time_max_s": None, "memory_bytes": None,
            "input_bytes": batch * tokens * dim * element, "memory_ratio": None, "flops": None,
            "gflops_per_s": None, "estimate_time_s": None, "estimate_memory_bytes": None, "note": "",
        }  # fmt: skip
        results.append(row)
        try:
            module = build_bench_mixer(spec, dim, grid)
        except (ValueError, TypeError) as error:
            row.update(status="error", note=str(error))
            continue
        row["flops"] = theoretical_flops(module, grid, batch, mode)
        counted = "; FLOPs counted by torch.utils.flop_counter (matrix products only)" if flops_counted(module) else ""
        est_time = _extrapolate(time_hist.get(key, []), tokens)
        if est_time is None and row["flops"] is not None:
            est_time = row["flops"] / 2e9  # before any measurement: a modest 2 GFLOP/s
        est_mem = _extrapolate(mem_hist.get(key, []), tokens)
        if est_mem is None:
            est_mem = _analytic_memory(module, grid, dim, batch, element, mode)
        del module
        row["estimate_time_s"], row["estimate_memory_bytes"] = est_time, est_mem
        over = []
        if est_time is not None and est_time > time_budget:
            over.append(f"predicted {est_time:.3g} s > time budget {time_budget:g} s")
        if est_mem > memory_budget:
            over.append(f"predicted {est_mem / 1e9:.3g} GB > memory budget {memory_budget / 1e9:g} GB")
        if over:
            row.update(status="skipped", note="; ".join(over) + counted)
            continue
        try:
            timed = timing.time(spec, grid, mode, profile)
            seconds, times = timed["time_s"], timed["times"]
            if profile:
                row["profile"] = timed["profile"]
            row.update(time_s=seconds, time_min_s=min(times), time_max_s=max(times))
            row["note"] = f"median of {len(times)}" + (", fresh process" if isolate else "") + counted
            if rounds > 1:
                row["round_times_s"] = [seconds]
                timers[len(results) - 1] = functools.partial(timing.time, spec, grid, mode)
            time_hist.setdefault(key, []).append((tokens, seconds))
            if row["flops"] is not None:
                row["gflops_per_s"] = row["flops"] / seconds / 1e9
            if memory:
                peak = timing.memory(spec, grid, mode)
                row["memory_bytes"] = peak
                row["memory_ratio"] = peak / row["input_bytes"]
                mem_hist.setdefault(key, []).append((tokens, max(peak, 1)))
        except (RuntimeError, torch.cuda.OutOfMemoryError, subprocess.TimeoutExpired) as error:
            row.update(status="error", note=str(error).splitlines()[0][:200] if str(error) else type(error).__name__)
    if timers:
        _more_rounds(results, timers, rounds, progress)
    return results


def _more_rounds(results: list[dict[str, Any]], timers: dict[int, Callable[[], dict[str, Any]]], rounds: int,
                 progress: bool) -> None:  # fmt: skip
    """Rounds 2..``rounds`` of :func:`run_benchmark`: each configuration once per round, in the same order; then
    every row's time becomes the median of its rounds."""
    from tqdm.auto import tqdm

    for index, timer in tqdm([item for _ in range(rounds - 1) for item in timers.items()], desc="more rounds",
                             disable=not progress):  # fmt: skip
        row = results[index]
        try:
            timed = timer()
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            row["note"] += f"; a later round failed: {str(error).splitlines()[0][:120] if str(error) else error}"
            continue
        times = timed["times"]
        row["round_times_s"].append(timed["time_s"])
        row["time_min_s"], row["time_max_s"] = min(row["time_min_s"], min(times)), max(row["time_max_s"], max(times))
    for index in timers:
        row = results[index]
        row["time_s"] = statistics.median(row["round_times_s"])
        if row["flops"] is not None:
            row["gflops_per_s"] = row["flops"] / row["time_s"] / 1e9
        row["note"] = row["note"].replace("median of", f"median of {len(row['round_times_s'])} rounds' medians of", 1)


def sweep_afno(param: str, values: Sequence[Any], grid: int = 64, dim: int = 256, batch: int = 1,
               mode: str = "forward", repeats: int = 5, progress: bool = True,
               profile: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """Time one AFNO setting at several values (e.g. ``hard_thresholding_fraction`` or ``num_blocks``) on one grid.

    Rows as from :func:`run_benchmark` (``profile=True``: with the time by kind of work), with ``param`` and
    ``value`` added.
    """
    specs = [MixerSpec("afno", {param: v}) for v in values]
    rows = run_benchmark(specs, [grid], dim=dim, batch=batch, modes=[mode], repeats=repeats, memory=False,
                         progress=progress, profile=profile)  # fmt: skip
    for row, value in zip(rows, values):
        row["param"], row["value"] = param, value
    return rows


__all__ = ["DEFAULT_GRIDS", "check_settings", "run_benchmark", "sweep_afno"]
