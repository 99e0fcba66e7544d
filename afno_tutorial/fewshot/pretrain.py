"""Produce the small pretrained backbones shipped in ``afno_tutorial/fewshot/checkpoints/`` (one per mixer).

    python -m afno_tutorial.pretrain                        # every registered mixer, the shipped recipe
    python -m afno_tutorial.pretrain --mixer afno --steps 500 --out /tmp/mine

Pretraining with a light decoder (:class:`~afno_tutorial.fewshot.decoder.MaskedAutoencoder`: the texture statistics
of every patch predicted, alone and averaged over its neighbourhood; with ``--mask-ratio`` > 0 also the pixels of
hidden patches) on unlabelled procedural images of the ``"context_base"`` classes, trained by
:func:`afno_tutorial.train.pretrain_inpainting`; see :data:`RECIPE` for why the shipped recipe hides no patch.
Training state goes to ``--state-dir`` and is resumed, so a run cut short (Ctrl-C or ``--max-minutes``) continues
where it stopped when the same command is run again (without ``--force``); a state made with other settings
(``--steps``, ``--images``, ...) is refused, and ``--force`` discards it and starts from scratch. Each finished
backbone is written as ``<out>/<mixer>.pt`` (float16 weights, config, recipe, pretraining curve, time per step,
device, versions); the decoder is dropped. Arguments and the output folders are checked before any work starts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from ..checks import argparse_number, check_writable_folder
from ..config import device as pick_device
from ..config import seed_everything, versions
from ..data import make_pretraining_images
from ..loop import load_checkpoint
from ..mixers import available_mixers
from ..models import VisionBackbone
from ..train import evaluate_inpainting, load_backbone, pretrain_inpainting, save_backbone
from .decoder import MaskedAutoencoder, evaluate_masked, fold_input_normalisation

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
# The shipped recipe: same depth, width, patch size, data, decoder and steps for every mixer. At this scale (a
# 2-core CPU, 1,000 steps) hidden patches did not pay in pilot runs (hiding a quarter of the patches lowered
# AFNO's frozen-feature mIoU at K = 10 from about 0.36 to 0.22 after 400 steps; not committed: repeat it with
# `--mask-ratio 0.25 --out <dir>` and `python -m afno_tutorial.fewshot --checkpoints <dir>`). So every patch is
# visible and the decoder predicts each patch's texture statistics, alone and averaged over its 3x3 and 5x5
# neighbourhoods (those need context); the masked scheme stays one option away (--mask-ratio) for longer runs.
RECIPE = {"dim": 64, "depth": 4, "patch_size": 4, "img_size": 64, "steps": 1000, "batch_size": 32, "lr": 2e-3,
          "mask_ratio": 0.0, "n_images": 4000, "split": "context_base", "decoder_dim": 32, "decoder_depth": 1,
          "pixel_weight": 1.0, "texture_weight": 1.0, "pools": (1, 3, 5), "visible_weight": 1.0, "seed": 0}


# FNO keeps a full dim x dim complex matrix per kept mode: with the registry's 8x8 modes a width-64, depth-4
# backbone has 4.1 million parameters (8 MB in float16). The shipped one keeps 4x4 modes (1.0 million, ~2 MB);
# every other mixer uses its defaults (AFNO: 8 blocks, all modes; attention: 8 heads; GFN: a full-size filter).
MIXER_KWARGS = {"fno": {"modes": (4, 4)}}


def backbone_config(mixer: str, dim: int, depth: int, patch_size: int, img_size: int) -> dict:
    """``VisionBackbone(**config)`` arguments of the shipped recipe (see :data:`MIXER_KWARGS`)."""
    config = {"mixer": mixer, "dim": dim, "depth": depth, "patch_size": patch_size, "img_size": img_size}
    if mixer in MIXER_KWARGS:
        config["mixer_kwargs"] = dict(MIXER_KWARGS[mixer])
    return config


def shipped_checkpoint(mixer: str) -> Path:
    """Path of the shipped backbone for ``mixer`` (may not exist if it was never produced)."""
    return CHECKPOINT_DIR / f"{mixer}.pt"


def load_pretrained(mixer: str, directory: str | Path | None = None) -> tuple[VisionBackbone, dict]:
    """``(backbone, meta)`` of a pretrained backbone (the shipped one unless ``directory`` is given)."""
    path = (Path(directory) if directory is not None else CHECKPOINT_DIR) / f"{mixer}.pt"
    if not path.exists():
        raise ValueError(
            f"mixer: no pretrained backbone {path}; produce it with `python -m afno_tutorial.pretrain --mixer {mixer}`"
        )
    return load_backbone(path)


def pretrain_backbone(
    mixer: str,
    *,
    out: str | Path = CHECKPOINT_DIR,
    state_dir: str | Path | None = None,
    images: torch.Tensor | None = None,
    max_seconds: float | None = None,
    device: str | None = None,
    progress: bool = True,
    **overrides,
) -> dict | None:
    """Pretrain one mixer's backbone with :data:`RECIPE` (``overrides`` change entries); returns its meta.

    Returns ``None`` when stopped by ``max_seconds`` before the end (run again to resume).
    """
    recipe = {**RECIPE, **overrides}
    dev = pick_device(device)
    seed_everything(recipe["seed"])
    config = backbone_config(mixer, recipe["dim"], recipe["depth"], recipe["patch_size"], recipe["img_size"])
    model = MaskedAutoencoder(VisionBackbone(**config), recipe["decoder_dim"], recipe["decoder_depth"],
                              recipe["pixel_weight"], recipe["texture_weight"], config.get("mixer_kwargs"),
                              tuple(recipe["pools"]), recipe["visible_weight"])
    if images is None:
        images = make_pretraining_images(recipe["n_images"], recipe["img_size"], seed=recipe["seed"],
                                         split=recipe["split"])
    state = Path(state_dir) / f"{mixer}-state.pt" if state_dir is not None else None
    history = pretrain_inpainting(
        model, images, steps=recipe["steps"], batch_size=recipe["batch_size"], lr=recipe["lr"],
        mask_ratio=recipe["mask_ratio"], seed=recipe["seed"], device=dev, progress=progress, checkpoint=state,
        max_seconds=max_seconds, checkpoint_every=100,
    )
    if not history["completed"]:
        return None
    held_out = make_pretraining_images(200, recipe["img_size"], seed=recipe["seed"] + 10_000, split=recipe["split"])
    quality = evaluate_inpainting(model, held_out.to(dev), mask_ratio=recipe["mask_ratio"])
    meta = {
        "recipe": recipe,
        "history": {"step": history["step"], "loss": history["loss"]},
        "seconds_per_step": history["seconds_per_step"],
        "device": history["device"],
        "held_out_psnr": quality["psnr"] if recipe["mask_ratio"] > 0 else None,  # of hidden pixels, if any
        "held_out_loss": evaluate_masked(model, held_out.to(dev), mask_ratio=recipe["mask_ratio"]),
        "parameters": sum(p.numel() for p in model.backbone.parameters()),
        "versions": versions(),
        "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    # The kept backbone takes raw pixels; float16 storage keeps every shipped file small.
    save_backbone(fold_input_normalisation(model.backbone.cpu()), Path(out) / f"{mixer}.pt", config, meta,
                  dtype=torch.float16)
    return meta


_POSITIVE_INT = argparse_number(int, "positive int", low=1)
_FRACTION = argparse_number(float, "fraction in [0, 1)", low=0, high=1, high_open=True)
_MINUTES = argparse_number(float, "finite number of minutes >= 0", low=0)


def _check_writable(parser: argparse.ArgumentParser, folder: Path, flag: str) -> None:
    """Refuse (exit 2) a folder that cannot be created or written, before any work starts."""
    try:
        check_writable_folder(folder, flag)
    except ValueError as error:
        parser.error(str(error))


def _unfinished(state: Path) -> bool:
    """Whether ``state`` holds a training run stopped before its end (to resume even if the output exists)."""
    return state.exists() and not load_checkpoint(state)["history"].get("completed", False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixer", nargs="+", default=available_mixers(), choices=available_mixers(),
                        help="registered mixers (default: all)")
    parser.add_argument("--steps", type=_POSITIVE_INT, default=RECIPE["steps"])
    parser.add_argument("--images", type=_POSITIVE_INT, default=RECIPE["n_images"], help="number of pretraining images")
    parser.add_argument("--size", type=_POSITIVE_INT, default=RECIPE["img_size"],
                        help=f"image size, a multiple of the patch size {RECIPE['patch_size']}")
    parser.add_argument("--dim", type=_POSITIVE_INT, default=RECIPE["dim"])
    parser.add_argument("--depth", type=_POSITIVE_INT, default=RECIPE["depth"])
    parser.add_argument("--batch-size", type=_POSITIVE_INT, default=RECIPE["batch_size"])
    parser.add_argument("--mask-ratio", type=_FRACTION, default=RECIPE["mask_ratio"],
                        help="fraction of patches hidden, in [0, 1)")
    parser.add_argument("--out", type=Path, default=CHECKPOINT_DIR)
    parser.add_argument("--state-dir", type=Path, default=Path("runs/pretrain"), help="resumable training state")
    parser.add_argument("--max-minutes", type=_MINUTES, default=None, help="stop (resumably) after this long")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--force", action="store_true",
                        help="retrain from scratch even if <out>/<mixer>.pt exists (discards saved training state)")
    args = parser.parse_args(argv)
    if args.size % RECIPE["patch_size"]:
        parser.error(f"--size: expected a multiple of the patch size {RECIPE['patch_size']}, got {args.size}")
    _check_writable(parser, args.out, "--out")
    _check_writable(parser, args.state_dir, "--state-dir")
    overrides = {"steps": args.steps, "n_images": args.images, "img_size": args.size, "dim": args.dim,
                 "depth": args.depth, "batch_size": args.batch_size, "mask_ratio": args.mask_ratio}
    began = time.perf_counter()
    images = None
    try:
        for mixer in args.mixer:
            state = args.state_dir / f"{mixer}-state.pt"
            if args.force:
                state.unlink(missing_ok=True)  # from scratch: the old state may hold other data or settings
            elif (args.out / f"{mixer}.pt").exists() and not _unfinished(state):
                print(f"{mixer}: {args.out / f'{mixer}.pt'} exists (use --force to retrain)")
                continue
            left = None if args.max_minutes is None else args.max_minutes * 60 - (time.perf_counter() - began)
            if left is not None and left <= 0:
                print("time limit reached; run the same command (without --force) again to continue")
                return 0
            if images is None:
                images = make_pretraining_images(args.images, args.size, seed=RECIPE["seed"], split=RECIPE["split"])
            meta = pretrain_backbone(mixer, out=args.out, state_dir=args.state_dir, images=images, max_seconds=left,
                                     device=args.device, **overrides)
            if meta is None:
                print(f"{mixer}: stopped by --max-minutes; run the same command (without --force) again to resume")
                return 0
            print(f"{mixer}: {meta['parameters']:,} parameters, {meta['seconds_per_step'] * 1e3:.0f} ms/step on "
                  f"{meta['device']}, held-out loss {meta['held_out_loss']:.3f} -> {args.out / f'{mixer}.pt'}")
    except ValueError as exc:  # a state made with other settings, an unreadable file: said plainly, no traceback
        print(f"pretrain: error: {exc}\n(--force discards the saved training state and starts over)", file=sys.stderr)
        return 2
    return 0
