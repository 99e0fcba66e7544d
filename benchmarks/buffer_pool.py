"""What reusing the pocketfft AFNO's large buffers buys (afno_tutorial.mixers._cpu.buffer_pool), measured.

Each case is timed with the pool off (every spectrum, kept buffer, output and input gradient allocated afresh, so
its pages are faulted in on first touch) and on, alternately in one process (afno_tutorial.bench.paired), and
reported as the median of the per-cycle ratios (off / on) with its quartiles:

1. AFNO2d(256) forward (under no_grad) and forward+backward at 256x256 tokens;
2. the SciPy round trip of the benchmark (the floor of the timing targets), which does not use the pool: the control.

    python benchmarks/buffer_pool.py --out benchmarks/cpu_2threads_buffer_pool.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from afno_tutorial import AFNO2d
from afno_tutorial.bench import build_bench_mixer, make_step
from afno_tutorial.mixers._cpu.buffer_pool import POOL

sys.path.insert(0, str(Path(__file__).resolve().parent))
import switch_timing  # noqa: E402  (this folder's shared helper)


def _switch(on: bool) -> None:
    POOL.enabled = on


def main(argv: list[str] | None = None) -> int:
    args = switch_timing.parser(__doc__).parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    mixer, x = AFNO2d(args.dim), torch.randn(1, args.grid, args.grid, args.dim)
    floor = build_bench_mixer("roundtrip:library='scipy'", args.dim, args.grid)
    cases = {
        "AFNO forward": make_step(mixer, x, "forward"),
        "AFNO forward+backward": make_step(mixer, x, "backward"),
        "SciPy round trip (control)": make_step(floor, x, "forward"),
    }
    return switch_timing.run("buffer_pool.py", args, argv, _switch, cases)


if __name__ == "__main__":
    sys.exit(main())
