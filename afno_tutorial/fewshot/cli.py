"""``python -m afno_tutorial.fewshot``: the few-shot benchmark's command line (the protocol is
:mod:`afno_tutorial.fewshot.protocol`, whose docstring is the ``--help``).

The few-shot pipeline's top layer: the only module of it that draws (it imports :mod:`afno_tutorial.viz`), and
nothing in the package imports it. Every setting is checked before any work; an impossible one stops the command
with a message naming the option and what it expects.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import device as pick_device
from ..mixers import available_mixers
from ..viz.segmentation import plot_miou_bars
from . import protocol
from .protocol import INITS, MIN_EVAL_IMAGES, MODES, check_settings, run_fewshot
from .report import format_gain, format_table, load_results, merge_results, save_results

_OPTIONS = {"eval_images": "--eval-images", "data_seed": "--data-seed", "head_steps": "--head-steps",
            "finetune_steps": "--finetune-steps", "shots": "--shots", "mixers": "--mixer",
            "checkpoints": "--checkpoints"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m afno_tutorial.fewshot", description=protocol.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixer", nargs="+", default=available_mixers(), choices=available_mixers(),
                        help="registered mixers (default: all; each needs a backbone in --checkpoints)")
    parser.add_argument("--shots", nargs="+", type=int, default=[1, 5, 10])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (0 .. n-1); at least 1")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds first .. first + n - 1 instead (more seeds for an earlier run, see --merge)")
    parser.add_argument("--init", nargs="+", default=["pretrained"], choices=INITS)
    parser.add_argument("--mode", nargs="+", default=["frozen"], choices=MODES,
                        help="frozen: pixel classifier on frozen features; finetune: the backbone trained too")
    parser.add_argument("--finetune", action="store_true", help="same as adding finetune to --mode")
    parser.add_argument("--data-seed", type=int, default=0, help="another test set and support sets (same classes)")
    parser.add_argument("--eval-images", type=int, default=100, help=f"test images, at least {MIN_EVAL_IMAGES}")
    parser.add_argument("--head-steps", type=int, default=300)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--blocks", nargs="+", type=int, default=None,
                        help="blocks whose tokens the head reads (0 = patch embedding; default: all)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder of <mixer>.pt (default: shipped)")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/fewshot/<cpu|cuda>")
    parser.add_argument("--merge", nargs="+", type=Path, default=None, metavar="FOLDER",
                        help="no runs: merge the results.json of runs split across processes (e.g. one --mixer each) "
                             "into --out")
    args = parser.parse_args(argv)
    if args.merge is not None:
        return _merge(parser, args.merge, args.out)
    modes = list(dict.fromkeys(args.mode + (["finetune"] if args.finetune else [])))
    if args.seeds < 1:
        parser.error(f"--seeds: expected at least 1 seed, got {args.seeds}")
    if args.first_seed < 0:
        parser.error(f"--first-seed: expected a non-negative int, got {args.first_seed}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    try:  # every setting checked before any work
        check_settings(args.mixer, args.shots, seeds, args.init, modes,
                       eval_images=args.eval_images, data_seed=args.data_seed, head_steps=args.head_steps,
                       finetune_steps=args.finetune_steps, checkpoints=args.checkpoints)
        dev = pick_device(args.device)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        name = message.split(":", 1)[0]
        parser.error(_OPTIONS.get(name, name) + message[len(name):])
    results = run_fewshot(args.mixer, args.shots, seeds, inits=args.init, modes=modes,
                          eval_images=args.eval_images, data_seed=args.data_seed, head_steps=args.head_steps,
                          finetune_steps=args.finetune_steps, blocks=args.blocks, device=dev,
                          checkpoints=args.checkpoints)
    results["command"] = "python -m afno_tutorial.fewshot " + " ".join(sys.argv[1:] if argv is None else argv)
    _write(results, args.out or Path("benchmarks/fewshot") / dev.type)
    return 0


def _merge(parser: argparse.ArgumentParser, folders: list[Path], out: Path | None) -> int:
    if out is None:
        parser.error("--out: expected the folder the merged results go to, got none")
    try:
        results = merge_results([load_results(folder) for folder in folders])
    except ValueError as exc:
        parser.error(f"--merge: {exc}")
    results["merged_by"] = "python -m afno_tutorial.fewshot --merge " + " ".join(map(str, folders)) + f" --out {out}"
    _write(results, out)
    return 0


def _write(results: dict, out: Path) -> None:
    print(format_table(results))
    inits, modes = results["settings"]["inits"], results["settings"]["modes"]
    if "random" in inits and "pretrained" in inits:
        for mode in modes:
            print(f"\nPretrained minus random init ({mode}):\n" + format_gain(results, mode))
    paths = save_results(results, out)
    paths.append(out / "fewshot_miou.png")
    plot_miou_bars(results).savefig(paths[-1], dpi=120, bbox_inches="tight")
    for path in paths:
        print(f"wrote {path}")


__all__ = ["main"]
