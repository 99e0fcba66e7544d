"""What reusing the pocketfft AFNO's large buffers buys (afno_tutorial.buffer_pool), measured.

Each case is timed with the pool off (every spectrum and kept buffer allocated afresh, so its pages are faulted in
on first touch) and on, alternately in one process (afno_tutorial.paired_timing), and reported as the median of the
per-cycle ratios (off / on) with its quartiles:

1. AFNO2d(256) forward (under no_grad) and forward+backward at 256x256 tokens;
2. the SciPy round trip of the benchmark (the floor of the timing targets), which does not use the pool: the control.

    python benchmarks/buffer_pool.py --out benchmarks/cpu_2threads_buffer_pool.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from afno_tutorial import AFNO2d
from afno_tutorial.bench import build_bench_mixer, make_step
from afno_tutorial.buffer_pool import POOL
from afno_tutorial.config import describe_device, versions
from afno_tutorial.paired_timing import compare_switch, format_switch


def _switch(on: bool) -> None:
    POOL.enabled = on


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=256)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--cycles", type=int, default=41)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    mixer, x = AFNO2d(args.dim), torch.randn(1, args.grid, args.grid, args.dim)
    floor = build_bench_mixer("roundtrip:library='scipy'", args.dim, args.grid)
    cases = {
        "AFNO forward": make_step(mixer, x, "forward"),
        "AFNO forward+backward": make_step(mixer, x, "backward"),
        "SciPy round trip (control)": make_step(floor, x, "forward"),
    }
    print(f"device: {describe_device(cpu)}; grid {args.grid}x{args.grid}, C = {args.dim}, {args.cycles} cycles")
    rows = compare_switch(_switch, cases, cpu, cycles=args.cycles)
    print(format_switch(rows))
    if args.out:
        command = "python benchmarks/buffer_pool.py " + " ".join(sys.argv[1:] if argv is None else argv)
        payload = {"command": command, "versions": versions(), "device": describe_device(cpu), "results": rows}
        Path(args.out).write_text(json.dumps(payload, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
