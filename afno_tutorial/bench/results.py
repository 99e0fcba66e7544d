"""The benchmark's results: a table, fitted slopes and power laws, and the files they are saved in and read from.

A result is a list of rows (dicts with the keys of :data:`CSV_FIELDS`, plus ``"profile"`` and
``"round_times_s"`` where measured), one per mixer, mode and grid, from
:func:`afno_tutorial.bench.run_benchmark`. :func:`save_results` writes ``STEM.csv`` (the rows) and ``STEM.json``
(the rows plus the command, versions, fitted slopes, target checks and paired targets); :func:`load_results`
reads the JSON back and says which file is wrong, and how, when it is not one.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from ..config import describe_device, versions
from ..measure import fit_power_law, fit_slope
from .targets import target_checks

CSV_FIELDS = (
    "mixer", "mode", "grid", "tokens", "dim", "batch", "device", "dtype", "status", "time_s", "time_min_s",
    "time_max_s", "memory_bytes", "input_bytes", "memory_ratio", "flops", "gflops_per_s", "estimate_time_s",
    "estimate_memory_bytes", "note",
)  # fmt: skip


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of results (time, memory, FLOPs, achieved rate, status)."""
    width = max([len("mixer")] + [len(r["mixer"]) for r in results])
    header = f"{'mixer':<{width}} {'mode':<8} {'tokens':>7} {'time':>10} {'peak mem':>10} {'x input':>7} " \
             f"{'GFLOP':>8} {'GFLOP/s':>8}  status"
    lines = [header, "-" * len(header)]
    for r in results:
        def fmt(value: Any, spec: str, unit: str = "") -> str:
            return "-" if value is None else format(value, spec) + unit

        mem = None if r["memory_bytes"] is None else r["memory_bytes"] / 2**20
        status = r["status"]
        if status == "skipped":
            status += f" ({r['note']})"
        elif status == "error":
            status += f" ({r['note']})"
        lines.append(
            f"{r['mixer']:<{width}} {r['mode']:<8} {r['tokens']:>7} {fmt(r['time_s'], '.4g', ' s'):>10} "
            f"{fmt(mem, '.4g', ' MiB'):>10} {fmt(r['memory_ratio'], '.2f'):>7} "
            f"{fmt(None if r['flops'] is None else r['flops'] / 1e9, '.3g'):>8} {fmt(r['gflops_per_s'], '.3g'):>8}  "
            f"{status}"
        )
    return "\n".join(lines)


def slopes(results: Sequence[dict[str, Any]], quantity: str = "time_s", min_tokens: int = 4096) -> dict[str, float]:
    """Fitted log-log slope of ``quantity`` against tokens per ``mixer [mode]``, over grids with >= ``min_tokens``."""
    out: dict[str, float] = {}
    for label in dict.fromkeys(f"{r['mixer']} [{r['mode']}]" for r in results):
        rows = [r for r in results if f"{r['mixer']} [{r['mode']}]" == label and r["status"] == "ok"
                and r[quantity] is not None and r["tokens"] >= min_tokens]
        out[label] = fit_slope([r["tokens"] for r in rows], [r[quantity] for r in rows])
    return out


def power_law(results: Sequence[dict[str, Any]], mixer: str, mode: str = "forward", quantity: str = "time_s",
              min_tokens: int = 1024) -> tuple[float, float]:
    """Fit ``quantity = a * tokens**slope`` over the measured rows of ``mixer``; returns ``(a, slope)``."""
    rows = [r for r in results if r["mixer"] == mixer and r["mode"] == mode and r["status"] == "ok"
            and r.get(quantity) and r["tokens"] >= min_tokens]
    if len(rows) < 2:
        rows = [r for r in results if r["mixer"] == mixer and r["mode"] == mode and r["status"] == "ok"
                and r.get(quantity)][-2:]
    if len(rows) < 2:
        raise ValueError(f"mixer: need two measured grids of {mixer!r} ({mode}) to fit a power law")
    return fit_power_law([r["tokens"] for r in rows], [r[quantity] for r in rows])


def tokens_for(results: Sequence[dict[str, Any]], mixer: str, value: float, mode: str = "forward",
               quantity: str = "time_s") -> float:
    """Tokens at which the fitted power law of ``mixer`` reaches ``value`` (e.g. seconds per call).

    NaN when the fit is not increasing (grids too small for the cost to rise above fixed overheads).
    """
    a, slope = power_law(results, mixer, mode, quantity)
    if not slope > 0.5:
        return math.nan
    return (value / a) ** (1.0 / slope)


def save_results(results: Sequence[dict[str, Any]], stem: str | Path, command: str | None = None,
                 paired: Sequence[dict[str, Any]] | None = None) -> list[Path]:
    """Write ``stem.csv`` and ``stem.json`` (results plus versions, device, command, slopes, target checks, and the
    paired target ratios of :func:`~afno_tutorial.bench.paired.measure_target_pairs` when given)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerow({k: r.get(k) for k in CSV_FIELDS})
    payload = {
        "command": command,
        "versions": versions(),
        "results": list(results),
        "time_slopes": slopes(results, "time_s"),
        "memory_slopes": slopes(results, "memory_bytes"),
        "targets": [{**c, "limit": None if math.isinf(c["limit"]) else c["limit"]} for c in target_checks(results)],
    }
    if paired:
        payload["paired_targets"] = list(paired)
    json_path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return [csv_path, json_path]


def save_script_results(path: str | Path, script: str, argv: Sequence[str] | None, rows: Sequence[dict[str, Any]],
                        **extra: Any) -> Path:
    """Write the rows of one of the scripts in ``benchmarks/`` as JSON at ``path``: the command that made them
    (``python benchmarks/<script> <argv>``; ``argv`` ``None``: this process's arguments), the versions, the CPU
    (these scripts time the CPU), ``extra`` and the rows (``"results"``). Returns the path."""
    path = Path(path)
    arguments = sys.argv[1:] if argv is None else list(argv)
    payload = {"command": " ".join(["python", f"benchmarks/{script}", *arguments]), "versions": versions(),
               "device": describe_device("cpu"), **extra, "results": list(rows)}  # fmt: skip
    path.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {path}")
    return path


# The keys every saved row has: what the table, the plots and the target checks read.
_ROW_KEYS = ("mixer", "mode", "tokens", "status", "time_s", "memory_bytes", "flops")


def load_payload(path: str | Path) -> dict[str, Any]:
    """The whole ``.json`` written by :func:`save_results` (``results``, ``command``, ``versions``, ...).

    Raises ValueError naming the file when it is missing, not JSON, or not shaped like one."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"path: no such file {str(path)!r} (expected a benchmark .json written by --out)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"path: {str(path)!r} is not a benchmark results file (expected the JSON that --out "
                         f"writes): {error}") from None  # fmt: skip
    rows = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(rows, list):
        raise ValueError(f"path: {str(path)!r} is not a benchmark results file: expected a JSON object with a "
                         f"'results' list, got {type(payload).__name__}"
                         + (f" with keys {sorted(payload)}" if isinstance(payload, dict) else ""))  # fmt: skip
    if not rows:
        raise ValueError(f"path: {str(path)!r} has no rows in its 'results'")
    for i, row in enumerate(rows):
        missing = [key for key in _ROW_KEYS if not isinstance(row, dict) or key not in row]
        if missing:
            raise ValueError(f"path: {str(path)!r} is not a benchmark results file: row {i} of 'results' lacks "
                             f"{missing}")  # fmt: skip
    return payload


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``.json`` written by :func:`save_results` (checked as :func:`load_payload` checks them)."""
    return load_payload(path)["results"]


__all__ = ["CSV_FIELDS", "format_table", "load_payload", "load_results", "power_law", "save_results",
           "save_script_results", "slopes",
           "tokens_for"]  # fmt: skip
