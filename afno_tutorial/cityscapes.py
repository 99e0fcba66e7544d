"""Train and evaluate SegFormer with any token mixer on Cityscapes: ``python -m afno_tutorial.cityscapes``.

    python -m afno_tutorial.cityscapes train --root $CITYSCAPES_DATASET --variant b3 --mixer afno --crop 1024 \\
        --device cuda --out runs/b3-afno
    python -m afno_tutorial.cityscapes eval --root $CITYSCAPES_DATASET --checkpoint runs/b3-afno/checkpoint.pt \\
        --device cuda

``train`` writes ``OUT/checkpoint.pt`` (resumed when the same command runs again) and ``OUT/log.json``; with
``--eval`` it evaluates on the val split at the end, into ``OUT/eval.json``. ``eval`` rebuilds the model from the
checkpoint and writes per-class IoU and mIoU (sliding window over full frames) next to it. Defaults are
SegFormer's Cityscapes recipe (batch 8 of 1024 x 1024 crops, 160,000 steps, AdamW at 6e-5, warm-up 1,500 steps,
poly decay) on one device.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .config import seed_everything
from .data.cityscapes import Cityscapes
from .segformer import build_segformer, evaluate_segformer, train_segformer
from .segformer.engine import write_json
from .train import load_checkpoint


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default=None, help="the Cityscapes folder (default: $CITYSCAPES_DATASET)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--stride", type=int, default=768, help="sliding-window stride of the evaluation")
    parser.add_argument("--limit", type=int, default=None, help="use only the first LIMIT frames of each split")
    parser.add_argument("--workers", type=int, default=4, help="data-loading processes")
    parser.add_argument("--no-progress", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m afno_tutorial.cityscapes", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train (or resume) a SegFormer on Cityscapes' train split")
    _common(train)
    train.add_argument("--variant", default="b3", help="SegFormer size b0..b5")
    train.add_argument("--mixer", default="afno", help="'attention' (SegFormer's own) or a registered mixer name")
    train.add_argument("--stages", type=int, nargs="+", default=None, help="stages 1-4 to swap (default all)")
    train.add_argument("--mixer-kwargs", default="{}", help="the mixer's arguments as JSON, e.g. '{\"num_blocks\": 8}'")
    train.add_argument("--crop", type=int, default=1024, help="training crop (square)")
    train.add_argument("--steps", type=int, default=160_000)
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--lr", type=float, default=6e-5)
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--warmup", type=int, default=1500)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--checkpoint-every", type=int, default=1000)
    train.add_argument("--max-seconds", type=float, default=None, help="stop (saving) after this long; rerun to go on")
    train.add_argument("--eval", action="store_true", help="evaluate on the val split when training completes")
    train.add_argument("--out", default="runs/segformer", help="folder for checkpoint.pt, log.json, eval.json")
    evaluate = sub.add_parser("eval", help="per-class IoU and mIoU of a checkpoint (sliding window, full frames)")
    _common(evaluate)
    evaluate.add_argument("--checkpoint", required=True, help="a checkpoint.pt written by train")
    evaluate.add_argument("--split", default="val", choices=("train", "val"))
    evaluate.add_argument("--out", default=None, help="JSON file (default: eval_SPLIT.json next to the checkpoint)")
    return parser


def model_from_run(run: dict) -> torch.nn.Module:
    """The (untrained) SegFormer a run was built as: ``build_segformer`` from the checkpoint's ``run``."""
    stages = run.get("stages")
    kwargs = {} if run["mixer"] == "attention" else {"stages": stages, "image_size": run["crop"], **run["mixer_kwargs"]}
    return build_segformer(run["variant"], 19, run["mixer"], **kwargs)


def _train(args: argparse.Namespace) -> dict:
    try:
        mixer_kwargs = json.loads(args.mixer_kwargs)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--mixer-kwargs: expected a JSON object, got {args.mixer_kwargs!r} ({exc})") from None
    if not isinstance(mixer_kwargs, dict):
        raise SystemExit(f"--mixer-kwargs: expected a JSON object, got {args.mixer_kwargs!r}")
    data = Cityscapes(args.root, "train", crop_size=args.crop, limit=args.limit)
    run = {"variant": args.variant, "mixer": args.mixer, "stages": args.stages, "mixer_kwargs": mixer_kwargs,
           "crop": args.crop, "limit": args.limit}  # fmt: skip
    seed_everything(args.seed)
    model = model_from_run(run)
    out = Path(args.out)
    history = train_segformer(model, data, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                              weight_decay=args.weight_decay, warmup=args.warmup, seed=args.seed, device=args.device,
                              checkpoint=out / "checkpoint.pt", checkpoint_every=args.checkpoint_every,
                              log=out / "log.json", run=run, num_workers=args.workers, max_seconds=args.max_seconds,
                              progress=not args.no_progress)  # fmt: skip
    done = len(history["loss"])
    last = f", last loss {history['loss'][-1]:.4f}" if done else ""
    print(f"{'completed' if history['completed'] else 'stopped at'} step {history['step'][-1] + 1 if done else 0} "
          f"of {args.steps}{last}; {out / 'checkpoint.pt'}")  # fmt: skip
    if args.eval and history["completed"]:
        val = Cityscapes(args.root, "val", limit=args.limit)
        result = evaluate_segformer(model, val, crop=args.crop, stride=args.stride, device=args.device,
                                    progress=not args.no_progress)  # fmt: skip
        _report(result, out / "eval.json", run)
    return history


def _evaluate(args: argparse.Namespace) -> dict:
    path = Path(args.checkpoint)
    if not path.is_file():
        raise SystemExit(f"--checkpoint: no checkpoint at {path}")
    state = load_checkpoint(path)
    if state.get("kind") != "segformer":
        raise SystemExit(f"--checkpoint: {path} is not a SegFormer training checkpoint (kind {state.get('kind')!r})")
    run = state["run"]
    model = model_from_run(run)
    model.load_state_dict(state["model"])
    data = Cityscapes(args.root, args.split, limit=args.limit)
    result = evaluate_segformer(model, data, crop=run["crop"], stride=args.stride, device=args.device,
                                progress=not args.no_progress)  # fmt: skip
    result["step"] = state["step"]
    return _report(result, Path(args.out) if args.out else path.with_name(f"eval_{args.split}.json"), run)


def _report(result: dict, path: Path, run: dict) -> dict:
    width = max(len(name) for name in result["per_class_iou"])
    for name, iou in result["per_class_iou"].items():
        print(f"  {name:<{width}}  {'   -' if iou != iou else f'{100 * iou:5.1f}'}")
    print(f"mIoU {100 * result['miou']:.2f} % over {result['frames']} frames "
          f"(pixel accuracy {100 * result['pixel_accuracy']:.1f} %); {path}")  # fmt: skip
    write_json(path, {"run": run, **result})
    return result


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        (_train if args.command == "train" else _evaluate)(args)
    except ValueError as exc:  # bad arguments or data: one clear line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
