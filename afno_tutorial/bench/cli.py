"""Scaling benchmark: time and peak memory of token mixers from a few hundred to tens of thousands of tokens.

    python -m afno_tutorial.bench                                   # every registered mixer; grids 16..256
    python -m afno_tutorial.bench --mixers afno "afno:hard_thresholding_fraction=0.5" roundtrip \\
        --grids 64 128 256 --modes forward backward --out benchmarks/cpu

A mixer is a registry name (every registered mixer by default) or one of three baselines
(:mod:`afno_tutorial.bench.baselines`): ``roundtrip`` (a bare ``rfft2`` + ``irfft2`` of the same tensor in the
FFT's fastest layout, the floor of any FFT mixer; ``roundtrip:library='scipy'`` the same with SciPy's FFT over the
channels-last tensor), ``afno_reference`` (a reference-style AFNO: channels-last FFT over the full spectrum,
real/imaginary ``einsum``) and ``copy`` (``x.clone()``, the floor of any mixer that writes a new output).
``name:key=value,...`` passes keyword arguments (Python literals; a bare word is a string) to the constructor;
``name+compile`` wraps the module in ``torch.compile`` (compiled during the untimed warm-up).

Time: warm-up, then the median of repeated runs (CUDA synchronised). Forward runs under ``torch.no_grad``;
``backward`` mode times forward plus backward. Memory: on CUDA ``torch.cuda.max_memory_allocated`` above what was
allocated before; on CPU each configuration runs in a fresh subprocess and reports its peak resident memory
(``VmHWM``, reset after set-up) minus the resident memory after set-up. A configuration whose predicted time or
memory exceeds the budget is skipped and recorded with its estimate. ``--isolate`` times each configuration in a
fresh process as well, so that configurations compare like for like; ``--rounds N`` times all configurations N
times over, round after round, and reports the median, so that slow drifts of a machine's speed fall on all of
them alike. ``--profile`` adds the time per call split by kind of work (FFTs, matrix products, copies, ...;
:mod:`afno_tutorial.bench.profile`). ``--paired CYCLES`` also times each timing target's two configurations
alternately in one process at the largest grid and reports the median of the per-cycle ratios with its quartiles
(:mod:`afno_tutorial.bench.paired`): the estimate that a machine's drift disturbs least. Theoretical FLOPs come
from :mod:`afno_tutorial.flops` (forward; forward+backward counted as 3x forward). Every setting is checked
before anything runs. ``--out STEM`` writes ``STEM.csv``, ``STEM.json`` and ``STEM.png``; ``--replot STEM.json``
prints a saved run and redraws its figure.

This module is the benchmark's top layer: the only one that draws (it imports :mod:`afno_tutorial.viz`), and
nothing in the package imports it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from .. import measure
from ..checks import argparse_number, check_writable_folder
from ..config import describe_device
from ..mixers import available_mixers
from ..viz.scaling import plot_scaling
from .baselines import BASELINES
from .harness import DEFAULT_GRIDS, check_settings, run_benchmark
from .paired import format_pairs
from .profile import format_profile
from .results import format_table, load_payload, save_results, slopes
from .specs import MODES, default_mixers
from .targets import format_checks, measure_target_pairs, target_checks

# The first word of a settings error ("dim: expected ...") -> the command-line argument it is about.
_FLAGS = {"mixers": "--mixers", "grids": "--grids", "dim": "--dim", "batch": "--batch", "device": "--device",
          "dtype": "--dtype", "modes": "--modes", "repeats": "--repeats", "rounds": "--rounds",
          "warmup": "--warmup", "warmup_seconds": "--warmup-seconds", "time_budget": "--time-budget",
          "memory_budget": "--memory-budget-gb", "isolate": "--isolate", "profile": "--profile"}  # fmt: skip


_POSITIVE_INT = argparse_number(int, "positive integer", low=1)
_COUNT = argparse_number(int, "non-negative integer", low=0)
_SECONDS = argparse_number(float, "non-negative number", low=0)
_POSITIVE = argparse_number(float, "positive number", low=0, low_open=True)


def _writable(parser: argparse.ArgumentParser, flag: str, stem: str) -> None:
    """Refuse ``stem`` (``--out``, or the ``.png`` beside ``--replot``'s file) unless its folder can be written."""
    try:
        check_writable_folder(Path(stem).parent, flag)
    except ValueError as error:
        cause = error.__cause__
        parser.error(f"argument {flag}: expected a path in a writable folder, got {stem!r} "
                     f"({cause.strerror or cause})")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The command line's arguments (defaults from the registry at the time of the call)."""
    parser = argparse.ArgumentParser(prog="python -m afno_tutorial.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixers", nargs="+", default=list(default_mixers()),
                        help=f"names from {available_mixers() + list(BASELINES)}, optionally name:key=value,...")
    parser.add_argument("--grids", nargs="+", type=_POSITIVE_INT, default=list(DEFAULT_GRIDS),
                        help="square grid sides")
    parser.add_argument("--dim", type=_POSITIVE_INT, default=256)
    parser.add_argument("--batch", type=_POSITIVE_INT, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float64"], default="float32")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["forward"],
                        help="forward (no_grad) and/or backward (forward+backward)")
    parser.add_argument("--repeats", type=_POSITIVE_INT, default=5)
    parser.add_argument("--warmup", type=_COUNT, default=1, help="least untimed calls before timing")
    parser.add_argument("--warmup-seconds", type=_SECONDS, default=measure.WARMUP_SECONDS,
                        help="least seconds of untimed calls before timing (a process settles over several calls)")
    parser.add_argument("--time-budget", type=_POSITIVE, default=60.0, help="max predicted seconds per run")
    parser.add_argument("--memory-budget-gb", type=_POSITIVE, default=8.0, help="max predicted GB per run")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--threads", type=_POSITIVE_INT, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--out", default=None, help="write OUT.csv, OUT.json and OUT.png")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also split each configuration's time by kind of work (torch.profiler; CPU only)")
    parser.add_argument("--replot", default=None, metavar="JSON",
                        help="no new measurements: print the table of a saved JSON and rewrite its .png")
    parser.add_argument("--isolate", action="store_true",
                        help="time each configuration in a fresh process, so they compare like for like (CPU only)")
    parser.add_argument("--rounds", type=_POSITIVE_INT, default=1,
                        help="time every configuration this many times, round after round, and report the median")
    parser.add_argument("--paired", type=_COUNT, default=0, metavar="CYCLES",
                        help="also time each timing target's pair alternately in one process, CYCLES times each, at "
                             "the largest grid (afno_tutorial.bench.paired; in a fresh process per pair on CPU)")
    return parser


def _replot(parser: argparse.ArgumentParser, path: str) -> int:
    try:
        payload = load_payload(path)
    except ValueError as error:
        parser.error(f"argument --replot: {str(error).removeprefix('path: ')}")
    _writable(parser, "--replot", path)
    results = payload["results"]
    print(format_table(results))
    if any(r.get("profile") for r in results):
        print("\n" + format_profile(results))
    checks = target_checks(results)
    if checks:
        print("\ntargets:\n" + format_checks(checks))
    if payload.get("paired_targets"):
        print("\npaired targets:\n" + format_pairs(payload["paired_targets"]))
    png = Path(path).with_suffix(".png")
    plot_scaling(results).savefig(png, dpi=120, bbox_inches="tight")
    print(f"\nwrote {png}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.replot is not None:
        return _replot(parser, args.replot)
    settings = dict(dim=args.dim, batch=args.batch, device=args.device, dtype=args.dtype, modes=args.modes,
                    repeats=args.repeats, warmup=args.warmup, warmup_seconds=args.warmup_seconds,
                    time_budget=args.time_budget, memory_budget=args.memory_budget_gb * 1e9, profile=args.profile,
                    isolate=args.isolate, rounds=args.rounds)  # fmt: skip
    try:
        check_settings(args.mixers, args.grids, **settings, memory=not args.no_memory)
    except (ValueError, TypeError) as error:
        name, _, rest = str(error).partition(": ")
        parser.error(f"argument {_FLAGS[name]}: {rest}" if name in _FLAGS else str(error))
    if args.out:
        _writable(parser, "--out", args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run_benchmark(args.mixers, args.grids, memory=not args.no_memory, progress=not args.no_progress,
                            **settings)  # fmt: skip
    print(f"device: {describe_device(torch.device(args.device))}; dim={args.dim}, batch={args.batch}, "
          f"dtype={args.dtype}; torch {torch.__version__}")
    print(format_table(results))
    if args.profile:
        print("\n" + format_profile(results))
    print("\nfitted log-log slopes of time vs tokens (grids >= 64x64):")
    for label, slope in slopes(results).items():
        print(f"  {label}: {slope:.2f}")
    checks = target_checks(results)
    if checks:
        where = "" if args.device == "cpu" else " (set for a 2-core CPU; on a GPU for information)"
        print(f"\ntargets{where}:\n" + format_checks(checks))
    paired = None
    if args.paired:
        paired = measure_target_pairs(max(args.grids), args.dim, args.batch, args.dtype, args.device,
                                      cycles=args.paired, warmup_seconds=args.warmup_seconds,
                                      isolate=args.device == "cpu", progress=not args.no_progress)  # fmt: skip
        print(f"\npaired targets (each pair timed alternately in one process, {args.paired} cycles; median ratio "
              f"of the cycles):\n" + format_pairs(paired))
    if args.out:
        command = "python -m afno_tutorial.bench " + " ".join(
            a if a.replace(".", "").replace("-", "").replace("_", "").isalnum() else repr(a)
            for a in (sys.argv[1:] if argv is None else argv)
        )
        paths = save_results(results, args.out, command, paired)
        png = Path(args.out).with_suffix(".png")
        plot_scaling(results).savefig(png, dpi=120, bbox_inches="tight")
        print("\nwrote " + ", ".join(str(p) for p in [*paths, png]))
    return 0


__all__ = ["build_parser", "main"]
