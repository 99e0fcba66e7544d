"""The project's performance targets: their limits, the checks on a benchmark's rows, and their paired timing.

At the largest grid measured for AFNO (65,536 tokens, C=256 in the committed run): AFNO's forward at most
:data:`FORWARD_LIMIT` times an FFT round trip's, its forward+backward at most :data:`FORWARD_BACKWARD_LIMIT` times
it, keeping half the modes per axis at most :data:`FRACTION_LIMIT` of the full cost, self-attention at least 100x
slower, forward peak memory at most 3x the input. :func:`target_checks` reads them off separately timed medians;
:func:`measure_target_pairs` times each timing target's two configurations alternately
(:mod:`afno_tutorial.bench.paired`), the estimate a machine's drift disturbs least. Checks named ``(info)`` have
no limit and are reported beside the targets.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from . import isolate as fresh
from .paired import measure_pair
from .profile import kernel_seconds

# Upper limits on time ratios at the largest grid (target_checks checks them on separately timed medians,
# TARGET_PAIRS below on paired timings).
FORWARD_LIMIT = 1.8  # AFNO forward / FFT round trip
FORWARD_BACKWARD_LIMIT = 4.5  # AFNO forward+backward / FFT round trip (forward)
FRACTION_LIMIT = 0.6  # AFNO forward at hard_thresholding_fraction=0.5 / at 1

# The timing targets as pairs: (name, (mixer, mode) of the numerator, (mixer, mode) of the denominator, limit).
TARGET_PAIRS: tuple[tuple[str, tuple[str, str], tuple[str, str], float], ...] = (
    ("AFNO forward / FFT round trip, SciPy", ("afno", "forward"), ("roundtrip:library='scipy'", "forward"),
     FORWARD_LIMIT),
    ("AFNO forward+backward / FFT round trip, SciPy", ("afno", "backward"), ("roundtrip:library='scipy'", "forward"),
     FORWARD_BACKWARD_LIMIT),
    ("AFNO forward / FFT round trip, PyTorch", ("afno", "forward"), ("roundtrip", "forward"), FORWARD_LIMIT),
    ("AFNO forward+backward / FFT round trip, PyTorch", ("afno", "backward"), ("roundtrip", "forward"),
     FORWARD_BACKWARD_LIMIT),
    ("AFNO fraction 0.5 / fraction 1 forward", ("afno:hard_thresholding_fraction=0.5", "forward"),
     ("afno", "forward"), FRACTION_LIMIT),
)  # fmt: skip
# The FFT floors the targets are checked against: library -> (labels at fraction 1 and at fraction 0.5).
FLOORS = {
    "PyTorch": ("roundtrip", "roundtrip:hard_thresholding_fraction=0.5"),
    "SciPy": ("roundtrip:library='scipy'", "roundtrip:hard_thresholding_fraction=0.5,library='scipy'"),
}


def _lookup(results: Sequence[dict[str, Any]], mixer: str, mode: str, tokens: int, key: str) -> float | None:
    for r in results:
        if r["mixer"] == mixer and r["mode"] == mode and r["tokens"] == tokens and r["status"] == "ok":
            return r.get(key)
    return None


def target_checks(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The project's performance targets at the largest grid measured for AFNO, where the rows needed are present.

    Each check: ``name``, ``value``, ``limit``, ``passed`` (value compared with limit as the name says).
    """
    ok = [r for r in results if r["mixer"] == "afno" and r["mode"] == "forward" and r["status"] == "ok"]
    if not ok:
        return []
    n = max(r["tokens"] for r in ok)
    get = lambda mixer, mode, key="time_s": _lookup(results, mixer, mode, n, key)  # noqa: E731
    afno = get("afno", "forward")
    checks = []

    def add(name: str, value: float | None, limit: float, upper: bool) -> None:
        if value is not None:
            checks.append({"name": name, "tokens": n, "value": value, "limit": limit,
                           "passed": value <= limit if upper else value >= limit})

    # Against each FFT floor measured: PyTorch's (channels-first) and SciPy's (channels-last, the transforms of
    # AFNO's default CPU path). The faster one is the honest floor; both are reported.
    for label, (key, _) in FLOORS.items():
        base = get(key, "forward")
        if not base:
            continue
        add(f"AFNO forward / FFT round trip, {label} (<=)", afno / base, FORWARD_LIMIT, True)
        back = get("afno", "backward")
        add(f"AFNO forward+backward / FFT round trip, {label} (<=)", None if back is None else back / base,
            FORWARD_BACKWARD_LIMIT, True)
        ref = get("afno_reference", "forward")
        add(f"reference-style AFNO forward / FFT round trip, {label} (info)", None if ref is None else ref / base,
            math.inf, True)
    attn = get("attention", "forward")
    add("attention forward / AFNO forward (>=)", None if attn is None else attn / afno, 100.0, False)
    half = get("afno:hard_thresholding_fraction=0.5", "forward")
    add("AFNO fraction 0.5 / fraction 1 forward (<=)", None if half is None else half / afno, FRACTION_LIMIT, True)
    profiles = [_lookup(results, m, "forward", n, "profile") for m in ("afno:hard_thresholding_fraction=0.5", "afno")]
    if all(profiles):
        kernels = [kernel_seconds(p["kinds"]) for p in profiles]
        add("AFNO fraction 0.5 / fraction 1, FFT and matmul kernels alone (info)", kernels[0] / kernels[1],
            math.inf, True)
        copy = get("copy", "forward")
        if copy:
            # As fast as the kernels allow at both fractions: the kernels plus one read and write of the tensor.
            add("AFNO fraction 0.5 / fraction 1, kernels plus a copy of the tensor (info)",
                (kernels[0] + copy) / (kernels[1] + copy), math.inf, True)
    for label, (key, key_half) in FLOORS.items():
        full, low = get(key, "forward"), get(key_half, "forward")
        add(f"FFT round trip fraction 0.5 / fraction 1, {label} (info)", None if not (full and low) else low / full,
            math.inf, True)
    add("AFNO forward peak memory / input (<=)", get("afno", "forward", "memory_ratio"), 3.0, True)
    return checks


def format_checks(checks: Sequence[dict[str, Any]]) -> str:
    lines = []
    for c in checks:
        verdict = "" if math.isinf(c["limit"]) else ("  met" if c["passed"] else "  NOT met")
        limit = "" if math.isinf(c["limit"]) else f" (target {c['limit']:g})"
        lines.append(f"{c['name']} at {c['tokens']} tokens: {c['value']:.3g}{limit}{verdict}")
    return "\n".join(lines)


def measure_target_pairs(grid: int, dim: int, batch: int = 1, dtype: str = "float32", device: str = "cpu",
                         cycles: int = 31, warmup_seconds: float = 1.0, isolate: bool = True, progress: bool = True,
                         pairs: Sequence[tuple[str, tuple[str, str], tuple[str, str], float]] = TARGET_PAIRS,
                         timeout: float = 1800.0) -> list[dict[str, Any]]:  # fmt: skip
    """The ratio of every pair in ``pairs`` (default: the timing targets) by
    :func:`~afno_tutorial.bench.paired.measure_pair`.

    Args:
        isolate: each pair in a fresh process (CPU only), so that pairs do not inherit each other's memory state.

    Returns:
        one dict per pair: ``name``, ``a`` and ``b`` (``"mixer [mode]"``), ``tokens``, ``limit``, ``passed``
        (median ratio at most the limit) and the statistics of :func:`~afno_tutorial.bench.paired.paired_times`.
    """
    from tqdm.auto import tqdm

    if isolate and device != "cpu":
        raise ValueError(f"isolate: fresh processes are CPU only, got device {device!r}")
    rows = []
    for name, a, b, limit in tqdm(pairs, desc="paired", disable=not progress):
        if isolate:
            task = {"task": "paired", "a": list(a), "b": list(b), "grid": grid, "dim": dim, "batch": batch,
                    "dtype": dtype, "cycles": cycles, "warmup_seconds": warmup_seconds}  # fmt: skip
            stats = fresh.run_child(task, timeout)
        else:
            stats = measure_pair(a, b, grid, dim, batch, dtype, device, cycles, warmup_seconds)
        rows.append({"name": name, "a": f"{a[0]} [{a[1]}]", "b": f"{b[0]} [{b[1]}]", "tokens": grid * grid,
                     "limit": limit, "passed": stats["ratio"] <= limit, **stats})  # fmt: skip
    return rows



__all__ = [
    "FLOORS", "FORWARD_BACKWARD_LIMIT", "FORWARD_LIMIT", "FRACTION_LIMIT",
    "TARGET_PAIRS", "format_checks", "measure_target_pairs", "target_checks",
]  # fmt: skip
