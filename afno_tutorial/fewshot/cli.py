"""``python -m afno_tutorial.fewshot``: the few-shot benchmark's command line (the protocol is
:mod:`afno_tutorial.fewshot.protocol`, whose docstring is the ``--help``).

The few-shot pipeline's top layer: the only module of it that draws (it imports :mod:`afno_tutorial.viz`), and
nothing in the package imports it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import device as pick_device
from ..mixers import available_mixers
from ..viz.segmentation import plot_miou_bars
from . import protocol
from .protocol import format_table, run_fewshot, save_results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m afno_tutorial.fewshot", description=protocol.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixer", nargs="+", default=available_mixers(), choices=available_mixers(),
                        help="registered mixers (default: all; each needs a backbone in --checkpoints)")
    parser.add_argument("--shots", nargs="+", type=int, default=[1, 5, 10])
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0 .. n-1)")
    parser.add_argument("--init", nargs="+", default=["pretrained"], choices=["pretrained", "random"])
    parser.add_argument("--finetune", action="store_true", help="also run full fine-tuning")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--eval-images", type=int, default=100)
    parser.add_argument("--head-steps", type=int, default=500)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder of <mixer>.pt (default: shipped)")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/fewshot/<cpu|cuda>")
    args = parser.parse_args(argv)
    if args.eval_images < 100:
        print(f"note: --eval-images {args.eval_images} is below the protocol's 100", file=sys.stderr)
    dev = pick_device(args.device)
    results = run_fewshot(args.mixer, args.shots, list(range(args.seeds)), inits=args.init, finetune=args.finetune,
                          eval_images=args.eval_images, head_steps=args.head_steps,
                          finetune_steps=args.finetune_steps, device=dev, checkpoints=args.checkpoints)
    results["command"] = "python -m afno_tutorial.fewshot " + " ".join(sys.argv[1:] if argv is None else argv)
    print(format_table(results))
    out = args.out or Path("benchmarks/fewshot") / dev.type
    paths = save_results(results, out)
    paths.append(out / "fewshot_miou.png")
    plot_miou_bars(results).savefig(paths[-1], dpi=120, bbox_inches="tight")
    for path in paths:
        print(f"wrote {path}")
    return 0


__all__ = ["main"]
