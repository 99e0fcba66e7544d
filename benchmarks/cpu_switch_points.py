"""Where AFNO's fast CPU path starts to pay: the readable path (``path="plain"``) against the fast one
(``path="pocketfft"``), timed alternately in one process (afno_tutorial.bench.paired.paired_times), at inputs of a
few MiB to a few tens of MiB, one large grid or a batch of small ones.

The ratio printed is plain / pocketfft (above 1: the fast path is faster), the median of the per-cycle ratios with
its quartiles. ``path="auto"`` takes the fast path where both the input's size and the grid's are above the limits
in ``afno_tutorial/mixers/_cpu/__init__.py``, which come from this run.

    python benchmarks/cpu_switch_points.py --out benchmarks/cpu_2threads_switch_points.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from afno_tutorial import AFNO2d
from afno_tutorial.bench import make_step
from afno_tutorial.bench.paired import paired_times
from afno_tutorial.bench.results import save_script_results
from afno_tutorial.config import describe_device

SHAPES = (
    (1, 48, 48, 256), (1, 64, 64, 256), (1, 96, 96, 256), (1, 128, 128, 256), (1, 192, 192, 256),
    (4, 32, 32, 384), (8, 32, 32, 384), (2, 56, 56, 384), (4, 56, 56, 384), (8, 56, 56, 384),
    (32, 14, 14, 384), (64, 14, 14, 384), (32, 24, 24, 384),
)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", default=";".join(",".join(map(str, s)) for s in SHAPES), help="B,H,W,C;...")
    p.add_argument("--cycles", type=int, default=11)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    print(f"device: {describe_device(cpu)}; {args.cycles} cycles per comparison; ratio = plain / pocketfft")
    rows = []
    for text in args.shapes.split(";"):
        shape = tuple(int(v) for v in text.split(","))
        torch.manual_seed(0)
        plain, fast = AFNO2d(shape[-1], path="plain"), AFNO2d(shape[-1], path="pocketfft")
        fast.load_state_dict(plain.state_dict())
        x = torch.randn(shape)
        for mode in ("forward", "backward"):
            stats = paired_times(make_step(plain, x, mode), make_step(fast, x, mode), cpu, cycles=args.cycles)
            rows.append({"shape": list(shape), "mebibytes": x.numel() * 4 / 2**20, "tokens": shape[1] * shape[2],
                         "mode": mode, "plain_s": stats["time_a_s"], "pocketfft_s": stats["time_b_s"],
                         **{k: stats[k] for k in ("ratio", "ratio_q1", "ratio_q3", "cycles")}})  # fmt: skip
            print(f"{text} ({rows[-1]['mebibytes']:.1f} MiB) {mode:8s}: {stats['ratio']:.2f} "
                  f"[{stats['ratio_q1']:.2f}-{stats['ratio_q3']:.2f}]  ({1e3 * stats['time_a_s']:.1f} ms plain, "
                  f"{1e3 * stats['time_b_s']:.1f} ms pocketfft)", flush=True)
    if args.out:
        save_script_results(args.out, "cpu_switch_points.py", argv, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
