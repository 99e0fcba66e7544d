"""What each piece of AFNO's fast CPU path (afno_tutorial/mixers/_cpu) buys: each turned off (or, for a piece the
library no longer has, on), timed alternately against the full fast path in one process.

A piece stays in the library only while turning it off costs at least 10 % of forward or forward+backward time at
a size where the fast path runs. Each comparison times the same mixer and input with the piece off and on,
alternately (afno_tutorial.bench.paired.compare_switch), and reports the median of the per-cycle ratios (off / on,
above 1 where the piece helps) with its quartiles:

- ``fast path``: the whole fast path (SciPy's transforms over the channels-last tokens and the hand-written
  backward) against the readable path (``path="plain"``);
- ``kept activations``: ``keep_activations=True`` against recomputing the spectrum and the MLP's activations in
  the backward (forward+backward only);
- ``OpenMP release`` (not in the library): pausing PyTorch's OpenMP workers before every SciPy transform
  (``omp_pause_resource_all``), against not (the library's behaviour).

    python benchmarks/cpu_path_ablation.py --out benchmarks/cpu_2threads_ablation.json

A check that everything runs, in a few seconds (the numbers mean nothing at this size and with one cycle):

    python benchmarks/cpu_path_ablation.py --shapes 1,128,128,256 --cycles 1 --warmup 0

Time: every comparison warms up for ``--warmup`` seconds (at least two calls of each setting), then times
``--cycles`` calls of each: with the default shapes, about 5 minutes at 15 cycles and 7 at 21 on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import sys
from pathlib import Path
from typing import Callable

import torch

from afno_tutorial import AFNO2d
from afno_tutorial.bench import make_step
from afno_tutorial.bench.paired import compare_switch
from afno_tutorial.bench.results import save_script_results
from afno_tutorial.config import describe_device
from afno_tutorial.mixers._cpu import cpu_path, scipy_fft

SHAPES = ((1, 256, 256, 256), (1, 90, 180, 768), (8, 56, 56, 384))


class Piece:
    """A piece of the fast path: ``switch(mixer, on)`` sets it; ``modes`` are the modes it can change; ``default``
    is the library's setting."""

    def __init__(self, name: str, switch: Callable[[AFNO2d, bool], None], modes=("forward", "backward"),
                 default: bool = True) -> None:
        self.name, self.switch, self.modes, self.default = name, switch, modes, default


def _path(mixer: AFNO2d, on: bool) -> None:
    mixer.path = "auto" if on else "plain"


def _keep(mixer: AFNO2d, on: bool) -> None:
    mixer.keep_activations = on


@functools.cache
def _omp_pause() -> Callable[[], None] | None:
    """``omp_pause_resource_all(omp_pause_soft)`` of the OpenMP runtime in this process, or ``None`` (looked up once:
    the switch runs inside every timed call)."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "libgomp" in line or "libiomp" in line})
    except OSError:
        paths = []
    for path in paths or [None]:
        try:
            pause = ctypes.CDLL(path).omp_pause_resource_all
        except (OSError, AttributeError):
            continue
        pause.argtypes, pause.restype = [ctypes.c_int], ctypes.c_int
        return lambda: pause(1)
    return None


_THREADS = scipy_fft._threads


def _openmp_release(mixer: AFNO2d, on: bool) -> None:
    pause = _omp_pause()
    # _threads() is called right before every SciPy transform of the path.
    scipy_fft._threads = (lambda: (pause(), _THREADS())[1]) if on and pause else _THREADS


PIECES = [
    Piece("fast path (SciPy transforms, hand-written backward)", _path),
    Piece("kept activations", _keep, modes=("backward",)),
    Piece("OpenMP release (not in the library)", _openmp_release, default=False),
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default=";".join(",".join(map(str, s)) for s in SHAPES), help="B,H,W,C;...")
    p.add_argument("--cycles", type=int, default=15, help="timed calls of each setting per comparison")
    p.add_argument("--warmup", type=float, default=1.0, help="least seconds of untimed calls per comparison")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pieces", nargs="*", default=None, help="names (prefixes) of the pieces to measure")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = p.parse_args(argv)
    if args.cycles < 1 or not args.warmup >= 0:
        p.error(f"--cycles: expected >= 1, --warmup: expected >= 0 seconds; got {args.cycles} and {args.warmup}")
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    pieces = [piece for piece in PIECES if not args.pieces or any(piece.name.startswith(n) for n in args.pieces)]
    print(f"device: {describe_device(cpu)}; {args.cycles} cycles per comparison")
    shapes = [tuple(int(v) for v in text.split(",")) for text in args.shapes.split(";")]
    for shape in shapes:  # before anything is timed
        mixer, x = AFNO2d(shape[-1], num_blocks=8), torch.empty(shape)
        with torch.no_grad():
            paths = {cpu_path(mixer, x)}
        paths.add(cpu_path(mixer, x))  # with a graph
        if paths != {"pocketfft"}:
            p.error(f"--shapes: the fast path does not run at {shape} both with and without a graph (too small)")
    rows = []
    for shape in shapes:
        text = ",".join(map(str, shape))
        torch.manual_seed(0)
        mixer, x = AFNO2d(shape[-1], num_blocks=8), torch.randn(shape)
        for piece in pieces:
            steps = {f"{text} {mode}": make_step(mixer, x, mode) for mode in piece.modes}
            for row in compare_switch(lambda on, piece=piece: piece.switch(mixer, on), steps, cpu,
                                      cycles=args.cycles, warmup_seconds=args.warmup):
                row.update(piece=piece.name, shape=list(shape), mode=row["case"].split()[-1])
                rows.append(row)
                print(f"{piece.name} | {row['case']} | off {1e3 * row['off_s']:.1f} ms, on {1e3 * row['on_s']:.1f} "
                      f"ms | off / on {row['ratio_off_on']:.3f} [{row['ratio_q1']:.3f}-{row['ratio_q3']:.3f}]",
                      flush=True)
            piece.switch(mixer, piece.default)  # the library's behaviour again
    if args.out:
        save_script_results(args.out, "cpu_path_ablation.py", argv, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
