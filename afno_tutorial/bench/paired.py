"""Paired timing: the time ratio of two computations, timed alternately in one process.

On a shared or virtual machine the speed drifts by tens of percent within seconds (other tenants, the cost of
page faults, clock frequency). Two configurations timed one after the other, or in separate processes minutes
apart, then differ by the drift as much as by their own cost, and the ratio of their medians lands anywhere in
that band. Timed alternately, call by call, both run under the same conditions: each cycle's ratio cancels the
drift both calls saw, the median over many cycles estimates the ratio, and the quartiles show how much of it is
noise. Within a cycle the order alternates (``a`` then ``b``, then ``b`` then ``a``), so that neither always
runs on what the other left behind (caches, freed memory).

:func:`measure_pair` times two benchmark configurations so;
:func:`afno_tutorial.bench.targets.measure_target_pairs` does it for the pairs behind the project's timing targets
(``python -m afno_tutorial.bench --paired CYCLES``), :func:`compare_switch` for a setting off and on.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable, Sequence

import torch

from ..measure import synchronize
from .specs import parse_dtype, parse_mixer_spec, setup_step


def paired_times(step_a: Callable[[], None], step_b: Callable[[], None], device: torch.device, cycles: int = 31,
                 warmup_seconds: float = 1.0,
                 clock: Callable[[], float] = time.perf_counter) -> dict[str, Any]:  # fmt: skip
    """Time ``step_a`` and ``step_b`` alternately, ``cycles`` times each, after a shared warm-up.

    Args:
        step_a, step_b: the two computations (each one call).
        device: where they run (CUDA is synchronised around every call).
        cycles: timed calls of each.
        warmup_seconds: the least time spent in untimed calls of both, alternately (at least two of each: a process
            settles over its first calls).
        clock: seconds, monotonic (tests pass a fake one).

    Returns:
        ``ratio`` (median of the cycles' ``time_a / time_b``), ``ratio_q1`` and ``ratio_q3`` (its quartiles),
        ``ratios`` (every cycle's), ``time_a_s`` and ``time_b_s`` (medians of each step's times), ``cycles``.
    """
    if not isinstance(cycles, int) or cycles < 1:
        raise ValueError(f"cycles: expected a positive integer, got {cycles!r}")
    steps = (step_a, step_b)

    def timed(i: int) -> float:
        synchronize(device)
        start = clock()
        steps[i]()
        synchronize(device)
        return clock() - start

    spent, calls = 0.0, 0
    while calls < 2 or spent < warmup_seconds:
        spent += timed(0) + timed(1)
        calls += 1
    times_a, times_b = [], []
    for cycle in range(cycles):
        order = (0, 1) if cycle % 2 == 0 else (1, 0)
        seconds = {i: timed(i) for i in order}
        times_a.append(seconds[0])
        times_b.append(seconds[1])
    ratios = [a / b for a, b in zip(times_a, times_b)]
    q1, _, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
    return {"ratio": statistics.median(ratios), "ratio_q1": q1, "ratio_q3": q3, "ratios": ratios,
            "time_a_s": statistics.median(times_a), "time_b_s": statistics.median(times_b), "cycles": cycles}


def compare_switch(switch: Callable[[bool], None], steps: dict[str, Callable[[], None]], device: torch.device,
                   cycles: int = 41, warmup_seconds: float = 1.0,
                   clock: Callable[[], float] = time.perf_counter) -> list[dict[str, Any]]:  # fmt: skip
    """What an on/off setting buys: each of ``steps`` timed with it off and on, alternately (:func:`paired_times`).

    Args:
        switch: sets the setting (``switch(False)`` off, ``switch(True)`` on); it is left on.
        steps: ``{name: one call}``.
        cycles, warmup_seconds, clock: as for :func:`paired_times`.

    Returns:
        one dict per step: ``case``, ``off_s`` and ``on_s`` (median seconds), ``ratio_off_on`` (median of the
        per-cycle ratios, above 1 where the setting helps), ``ratio_q1``, ``ratio_q3``, ``cycles``.
    """

    def run(on: bool, step: Callable[[], None]) -> Callable[[], None]:
        def call() -> None:
            switch(on)
            try:
                step()
            finally:
                switch(True)

        return call

    rows = []
    for name, step in steps.items():
        stats = paired_times(run(False, step), run(True, step), device, cycles, warmup_seconds, clock)
        rows.append({"case": name, "off_s": stats["time_a_s"], "on_s": stats["time_b_s"],
                     "ratio_off_on": stats["ratio"], "ratio_q1": stats["ratio_q1"], "ratio_q3": stats["ratio_q3"],
                     "cycles": stats["cycles"]})  # fmt: skip
    return rows


def format_switch(rows: Sequence[dict[str, Any]]) -> str:
    """One line per case of :func:`compare_switch`."""
    return "\n".join(
        f"{r['case']}: off {1e3 * r['off_s']:.1f} ms, on {1e3 * r['on_s']:.1f} ms; off / on {r['ratio_off_on']:.3f} "
        f"(quartiles {r['ratio_q1']:.3f} to {r['ratio_q3']:.3f})"
        for r in rows
    )


def measure_pair(a: tuple[str, str], b: tuple[str, str], grid: int, dim: int, batch: int = 1, dtype: str = "float32",
                 device: str = "cpu", cycles: int = 31, warmup_seconds: float = 1.0) -> dict[str, Any]:
    """:func:`paired_times` of two benchmark configurations, each ``(mixer spec, mode)`` as in
    :func:`afno_tutorial.bench.run_benchmark`, on one ``grid x grid`` input of ``dim`` channels, in this process."""
    dev, torch_dtype = torch.device(device), parse_dtype(dtype)
    (_, _, step_a), (_, _, step_b) = (setup_step(parse_mixer_spec(spec), grid, dim, batch, dev, torch_dtype, mode)
                                      for spec, mode in (a, b))  # fmt: skip
    return paired_times(step_a, step_b, dev, cycles=cycles, warmup_seconds=warmup_seconds)


def format_pairs(rows: Sequence[dict[str, Any]]) -> str:
    """One line per pair: the median ratio, its quartiles, the limit and the verdict (none for a pair with no
    limit)."""
    return "\n".join(
        f"{r['name']} ({'info' if math.isinf(r['limit']) else '<='}) at {r['tokens']} tokens: {r['ratio']:.3g} "
        f"[quartiles {r['ratio_q1']:.3g}-{r['ratio_q3']:.3g}; medians {r['time_a_s']:.4g} s / {r['time_b_s']:.4g} s]"
        + ("" if math.isinf(r["limit"]) else f" (target {r['limit']:g})  " + ("met" if r["passed"] else "NOT met"))
        for r in rows
    )
