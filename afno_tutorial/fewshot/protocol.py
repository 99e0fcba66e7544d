"""Few-shot segmentation benchmark: pretrained backbones, K labelled images, mIoU on held-out images.

    python -m afno_tutorial.fewshot                                   # all mixers, K = 1 5 10, 5 seeds, frozen
    python -m afno_tutorial.fewshot --init pretrained random          # + the control: randomly initialised backbones
    python -m afno_tutorial.fewshot --mode finetune --shots 10        # full fine-tuning
    python -m afno_tutorial.fewshot --data-seed 1                     # another test set and other support sets
    python -m afno_tutorial.fewshot --merge runs/a runs/b --out both  # runs split across processes, in one result

Protocol (the same for every mixer):

1. Backbone: the shipped pretrained one (``afno_tutorial/fewshot/checkpoints/<mixer>.pt``, see
   :mod:`afno_tutorial.fewshot.pretrain`), or a randomly initialised one (``--init random``, the control that shows
   what pretraining adds). Both saw no labels and none of the few-shot classes.
2. Data: the ``"context_novel"`` classes of :mod:`afno_tutorial.data` (one fine carrier, noise or grating, in
   stripes or spots: a patch shows the carrier, only its surroundings the arrangement). ``--data-seed`` draws
   another test set and other support sets from the same generator and classes.
3. Support set: ``K`` labelled images; seed ``s`` draws its own images (the K = 1 set is inside the K = 5 set,
   inside the K = 10 set) and initialises the head (and the random backbone).
4. Training: a small pixel classifier (:class:`~afno_tutorial.fewshot.heads.PixelHead`) on the tokens of every
   block, upsampled to pixels, with the backbone frozen (``frozen``, the headline) or trained too (``finetune``).
5. Test: per-class IoU and mIoU on ``--eval-images`` (at least :data:`MIN_EVAL_IMAGES`) held-out images, the same
   for every run; mean and standard deviation over the seeds.

Writes ``results.json`` (every run, the summary, chance level, settings, versions, device, command),
``results.csv`` (the summary) and ``fewshot_miou.png`` to ``--out``.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from .. import measure
from ..checks import check_positive_int
from ..config import describe_device, seed_everything, versions
from ..config import device as pick_device
from ..data import SegmentationSet, make_segmentation_set, sample
from ..masking import masked_mse, random_patch_mask
from ..mixers import available_mixers
from ..models import InpaintingModel, VisionBackbone
from ..train import autocast, chance_miou, confusion_matrix, iou_from_confusion
from .decoder import fold_input_normalisation
from .heads import FewShotSegmenter, fit_finetune, fit_frozen, predict
from .pretrain import CHECKPOINT_DIR, load_pretrained
from .report import summarise

SPLIT = "context_novel"
NUM_CLASSES = 4
MIN_EVAL_IMAGES = 100  # fewer test images make the mIoU of one run too noisy to compare mixers
INITS = ("pretrained", "random")
MODES = ("frozen", "finetune")
TEST_START = 0
SUPPORT_START = 100_000  # support images of seed s: SUPPORT_START + 1000 s + (0 .. K-1), disjoint from the test set
MAX_SHOTS = 1000  # so that the support sets of two seeds never overlap


def make_task(size: int = 64, eval_images: int = 100, data_seed: int = 0) -> SegmentationSet:
    """The held-out test set of the few-shot classes (the same for every mixer, K and seed of one data seed)."""
    return make_segmentation_set(eval_images, size, seed=data_seed, split=SPLIT, start=TEST_START)


def support_set(shots: int, seed: int, size: int = 64, data_seed: int = 0) -> SegmentationSet:
    """The ``shots`` labelled training images of run ``seed`` (nested: the first K of a fixed list per seed)."""
    return make_segmentation_set(shots, size, seed=data_seed, split=SPLIT, start=SUPPORT_START + 1000 * seed)


def get_backbone(mixer: str, init: str, seed: int = 0,
                 checkpoints: str | Path | None = None) -> tuple[VisionBackbone, dict]:
    """``init="pretrained"``: the stored backbone; ``"random"``: the same architecture, initialised from ``seed``,
    with the input standardisation of pretraining folded into its patch embedding as it is in the stored one."""
    if init not in INITS:
        raise ValueError(f"init: expected 'pretrained' or 'random', got {init!r}")
    backbone, meta = load_pretrained(mixer, checkpoints)
    if init == "pretrained":
        return backbone, meta
    torch.manual_seed(seed)
    return fold_input_normalisation(VisionBackbone(**meta["config"])).eval(), meta


def _ints(values: object, name: str, minimum: int, maximum: int | None = None) -> list[int]:
    values = list(values)
    if not values:
        raise ValueError(f"{name}: expected at least one value, got none")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum or (maximum is not None and v > maximum):
            bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"{name}: expected integers {bound}, got {values!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name}: expected distinct values, got {values!r}")
    return values


def check_settings(
    mixers: list[str] | tuple[str, ...],
    shots: list[int] | tuple[int, ...],
    seeds: list[int] | tuple[int, ...],
    inits: list[str] | tuple[str, ...],
    modes: list[str] | tuple[str, ...],
    *,
    eval_images: int,
    data_seed: int = 0,
    head_steps: int = 300,
    finetune_steps: int = 300,
    checkpoints: str | Path | None = None,
    min_eval_images: int = MIN_EVAL_IMAGES,
) -> None:
    """Refuse impossible or meaningless settings before any work, naming the argument and what it expects."""
    if not mixers:
        raise ValueError("mixers: expected at least one mixer, got none")
    unknown = [m for m in mixers if m not in available_mixers()]
    if unknown:
        raise ValueError(f"mixers: expected registered mixers {available_mixers()}, got {unknown!r}")
    _ints(shots, "shots", 1, MAX_SHOTS)
    _ints(seeds, "seeds", 0)
    for name, values, allowed in (("inits", inits, INITS), ("modes", modes, MODES)):
        if not values or any(v not in allowed for v in values) or len(set(values)) != len(values):
            raise ValueError(f"{name}: expected distinct values from {list(allowed)}, got {list(values)!r}")
    if isinstance(eval_images, bool) or not isinstance(eval_images, int) or eval_images < min_eval_images:
        raise ValueError(f"eval_images: expected at least {min_eval_images} test images (the protocol's minimum), "
                         f"got {eval_images!r}")
    if isinstance(data_seed, bool) or not isinstance(data_seed, int) or data_seed < 0:
        raise ValueError(f"data_seed: expected a non-negative int, got {data_seed!r}")
    check_positive_int(head_steps, "head_steps")
    check_positive_int(finetune_steps, "finetune_steps")
    folder = Path(checkpoints) if checkpoints is not None else CHECKPOINT_DIR
    missing = [m for m in mixers if not (folder / f"{m}.pt").exists()]
    if missing:
        raise ValueError(f"checkpoints: no backbone for {missing} in {folder}; produce them with "
                         f"`python -m afno_tutorial.pretrain --mixer {' '.join(missing)} --out {folder}`")


def evaluate(model: FewShotSegmenter, test: SegmentationSet) -> dict:
    """``{"miou", "per_class_iou", "pixel_accuracy"}`` of ``model`` on ``test``."""
    conf = confusion_matrix(predict(model, test.images), test.masks, test.num_classes)
    iou = iou_from_confusion(conf)
    return {"miou": float(torch.nanmean(iou)), "per_class_iou": iou.tolist(),
            "pixel_accuracy": float(conf.diag().sum() / conf.sum().clamp_min(1))}


def run_fewshot(
    mixers: list[str] | tuple[str, ...] | None = None,
    shots: list[int] | tuple[int, ...] = (1, 5, 10),
    seeds: list[int] | tuple[int, ...] = (0, 1, 2, 3, 4),
    *,
    inits: list[str] | tuple[str, ...] = ("pretrained",),
    modes: list[str] | tuple[str, ...] = ("frozen",),
    size: int = 64,
    eval_images: int = 100,
    data_seed: int = 0,
    head_steps: int = 300,
    finetune_steps: int = 300,
    blocks: tuple[int, ...] | None = None,
    device: str | torch.device | None = None,
    checkpoints: str | Path | None = None,
    progress: bool = True,
    keep_models: bool = False,
    min_eval_images: int = MIN_EVAL_IMAGES,
) -> dict:
    """Run the protocol above; returns ``{"rows", "summary", "chance_miou", "class_names", "settings", ...}``.

    ``rows``: one dict per (mixer, init, mode, K, seed) with ``miou``, ``per_class_iou``, ``fit_seconds`` (training
    time, frozen features included) and ``step_ms`` (per optimiser step). ``summary``: per (mixer, init, mode, K),
    see :func:`~afno_tutorial.fewshot.report.summarise`. With ``keep_models`` the trained model of seed
    ``seeds[0]`` is kept per (mixer, init, mode, K) under ``"models"``, and the test set under ``"test"``.
    ``min_eval_images`` lowers the protocol's minimum (tests and the notebook's fast setting only).
    """
    from tqdm.auto import tqdm

    mixers = available_mixers() if mixers is None else list(mixers)
    shots, seeds, inits, modes = list(shots), list(seeds), list(inits), list(modes)
    check_settings(mixers, shots, seeds, inits, modes, eval_images=eval_images, data_seed=data_seed,
                   head_steps=head_steps, finetune_steps=finetune_steps, checkpoints=checkpoints,
                   min_eval_images=min_eval_images)
    dev = pick_device(device)
    test = make_task(size, eval_images, data_seed)
    rows, models, backbones = [], {}, {}
    runs = [(m, i, mode, k, s) for m in mixers for i in inits for mode in modes for k in shots for s in seeds]
    bar = tqdm(runs, desc="few-shot runs", disable=not progress)
    started = time.perf_counter()
    for mixer, init, mode, k, seed in bar:
        bar.set_postfix(mixer=mixer, init=init, mode=mode, K=k, seed=seed)
        backbone, meta = get_backbone(mixer, init, seed, checkpoints)
        backbones.setdefault(mixer, {key: meta.get(key) for key in ("config", "recipe", "seconds_per_step",
                                                                     "device", "created")})
        seed_everything(seed)
        model = FewShotSegmenter(backbone, test.num_classes, blocks).to(dev)
        support = support_set(k, seed, size, data_seed)
        began = time.perf_counter()
        if mode == "frozen":
            losses = fit_frozen(model, support.images, support.masks, steps=head_steps, seed=seed, device=dev)
        else:
            losses = fit_finetune(model, support.images, support.masks, steps=finetune_steps, seed=seed, device=dev)
        fit_seconds = time.perf_counter() - began
        rows.append({"mixer": mixer, "init": init, "mode": mode, "shots": k, "seed": seed,
                     **evaluate(model, test), "final_loss": losses[-1], "fit_seconds": fit_seconds,
                     "step_ms": 1e3 * fit_seconds / len(losses),
                     "parameters": sum(p.numel() for p in backbone.parameters())})
        if keep_models and seed == seeds[0]:
            models[(mixer, init, mode, k)] = model.cpu()
    out = {
        "rows": rows,
        "summary": summarise(rows),
        "chance_miou": chance_miou(test.masks, test.num_classes),
        "class_names": test.class_names,
        "settings": {"mixers": mixers, "shots": shots, "seeds": seeds, "inits": inits, "modes": modes,
                     "size": size, "eval_images": eval_images, "data_seed": data_seed, "split": SPLIT,
                     "head_steps": head_steps, "finetune_steps": finetune_steps,
                     "blocks": list(model.blocks) if blocks is None else list(blocks)},
        "backbones": backbones,
        "device": describe_device(dev),
        "seconds": time.perf_counter() - started,
        "versions": versions(),
    }
    if keep_models:
        out["models"] = models
        out["test"] = test
    return out


def time_train_step(backbone: VisionBackbone, batch_size: int = 32, device: str | torch.device | None = None,
                    repeats: int = 5) -> float:
    """Measured seconds of one inpainting training step (forward, backward, AdamW) of ``backbone`` on ``device``.

    A copy is timed (the backbone is untouched): median of ``repeats`` steps after one warm-up step
    (:func:`afno_tutorial.measure.time_step`).
    """
    dev = pick_device(device)
    model = InpaintingModel(copy.deepcopy(backbone)).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = torch.rand(batch_size, model.in_chans, *backbone.img_size, device=dev)
    mask = random_patch_mask(batch_size, backbone.grid_size, 0.5, generator=torch.Generator().manual_seed(0)).to(dev)

    def step() -> None:
        with autocast(dev):
            loss = masked_mse(model(images, mask).float(), images, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return measure.time_step(step, dev, repeats=repeats, warmup=1, warmup_seconds=0.0)[0]


# ----------------------------------------------------------------------------------------------- high resolution


@torch.no_grad()
def time_forward(backbone: VisionBackbone, size: int, device: str | torch.device | None = None,
                 repeats: int = 3) -> float:
    """Median seconds of one inference forward pass of ``backbone`` on a ``(1, C, size, size)`` image.

    Timed by :func:`afno_tutorial.measure.time_step` as the benchmark times a mixer, under ``torch.no_grad`` and the
    device's autocast: after a warm-up of at least one call and about a second, since a cold first call pays for
    allocations and page faults; fewer than ``repeats`` runs when one call is slow.
    """
    dev = pick_device(device)
    backbone = backbone.to(dev).eval()
    x = torch.rand(1, backbone.patch_embed.in_chans, size, size, device=dev)

    def step() -> None:  # runs under this function's no_grad
        with autocast(dev):
            backbone(x)

    return measure.time_step(step, dev, repeats=repeats)[0]


def attention_at_scale(
    afno: VisionBackbone,
    attention: VisionBackbone,
    large: int,
    timing_sizes: list[int],
    device: str | torch.device | None = None,
    measure_attention: bool = False,
) -> dict:
    """Forward time of an AFNO and an attention backbone at small image sizes, and of both at ``large``.

    AFNO is always measured at ``large``. Attention is measured there only with ``measure_attention`` (on a GPU;
    running out of memory is reported as such); otherwise it is *estimated* from ``time = a * tokens**b`` fitted
    through the two largest measured sizes.

    Returns ``{"tokens", "afno_seconds", "measured": {name: (tokens, seconds)}, "estimate": {name: (tokens,
    seconds)}, "note"}``; ``measured["afno"]`` includes the large size.
    """
    patch = afno.patch_size
    tokens = (large // patch) ** 2
    measured = {
        name: ([(s // patch) ** 2 for s in timing_sizes], [time_forward(b, s, device) for s in timing_sizes])
        for name, b in [("afno", afno), ("attention", attention)]
    }
    afno_seconds = time_forward(afno, large, device)
    measured["afno"][0].append(tokens)
    measured["afno"][1].append(afno_seconds)
    a, b = measure.fit_power_law(measured["attention"][0][-2:], measured["attention"][1][-2:])
    estimate = {"attention": (tokens, a * tokens**b)}
    note = f"attention at {tokens:,} tokens: estimated {a * tokens**b:.0f} s from the fit (exponent {b:.2f})"
    if measure_attention:
        try:
            note = f"attention at {tokens:,} tokens: measured {time_forward(attention, large, device):.2f} s"
            estimate = {}
        except torch.cuda.OutOfMemoryError:
            note = f"attention at {tokens:,} tokens: out of GPU memory (measured)"
    return {"tokens": tokens, "afno_seconds": afno_seconds, "measured": measured, "estimate": estimate, "note": note}


def attention_matrix_bytes(tokens: int, heads: int = 8, depth: int = 1, bytes_per_value: int = 4) -> int:
    """Memory of the ``tokens x tokens`` attention weights of a plain (non-fused) kernel, per image and layer."""
    return tokens * tokens * heads * depth * bytes_per_value


@torch.no_grad()
def segment_large(model: FewShotSegmenter, image: torch.Tensor,
                  device: str | torch.device | None = None) -> torch.Tensor:
    """``image (C, H, W) -> (H, W)`` predicted classes for one (large) image, in one forward pass."""
    dev = pick_device(device)
    model = model.to(dev).eval()
    with autocast(dev):
        logits = model(image[None].to(dev))
    return logits.argmax(1)[0].cpu()


@torch.no_grad()
def segment_large_set(model: FewShotSegmenter, count: int = 8, size: int = 1024, seed: int = 2024,
                      device: str | torch.device | None = None, progress: bool = True) -> dict:
    """The first ``count`` images ``size x size`` of the few-shot classes' generator (data seed ``seed``), each
    segmented by ``model`` in one forward pass (:func:`segment_large`).

    A large image holds only a few regions, so one image's mIoU and chance swing with its class mix; as on the
    protocol's test set, the confusion is pooled over the images. Returns ``{"miou", "chance"`` (of the pooled
    masks), ``"per_image"`` (each image's mIoU), ``"median"`` (index of the image of median mIoU, the one to show),
    ``"predictions"``, ``"masks"`` (uint8 ``(count, size, size)``), ``"class_names"}``.
    """
    from tqdm.auto import tqdm

    check_positive_int(count, "count")
    preds, masks, conf, names = [], [], None, None
    for i in tqdm(range(count), desc=f"{size}x{size} images", disable=not progress):
        item = sample(i, size, seed=seed, split=SPLIT)
        names = item["class_names"]
        pred = segment_large(model, item["image"], device)
        c = confusion_matrix(pred, item["mask"], len(names))
        conf = c if conf is None else conf + c
        preds.append(pred.to(torch.uint8))
        masks.append(item["mask"].to(torch.uint8))
    per_image = [float(torch.nanmean(iou_from_confusion(confusion_matrix(p.long(), m.long(), len(names)))))
                 for p, m in zip(preds, masks)]
    stacked = torch.stack(masks)
    return {"miou": float(torch.nanmean(iou_from_confusion(conf))), "chance": chance_miou(stacked, len(names)),
            "per_image": per_image, "median": sorted(range(count), key=per_image.__getitem__)[count // 2],
            "predictions": torch.stack(preds), "masks": stacked, "class_names": names}
