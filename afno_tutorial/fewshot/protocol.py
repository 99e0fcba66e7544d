"""Few-shot segmentation benchmark: pretrained backbones, K labelled images, mIoU on held-out images.

    python -m afno_tutorial.fewshot                                   # all mixers, K = 1 5 10, 3 seeds, CPU/GPU
    python -m afno_tutorial.fewshot --mixer afno --shots 5 --device cuda
    python -m afno_tutorial.fewshot --init pretrained random --finetune

Protocol (the same for every mixer):

1. Backbone: the shipped inpainting-pretrained one (``afno_tutorial/fewshot/checkpoints/<mixer>.pt``, see
   :mod:`afno_tutorial.fewshot.pretrain`), or a randomly initialised one (``--init random``, the control that shows what
   pretraining adds). Both saw no labels and none of the ``"novel"`` texture classes.
2. Support set: ``K`` labelled images of the ``"novel"`` classes; seed ``s`` draws its own images (the K = 1 set is
   inside the K = 5 set, inside the K = 10 set) and initialises the head.
3. Training: a linear head on the frozen backbone (default), or full fine-tuning (``--finetune``).
4. Test: per-class IoU and mIoU on ``--eval-images`` (>= 100) held-out images, the same for every run; mean and
   standard deviation over the seeds.

Writes ``results.json`` (every run, the summary, chance level, settings, versions, device), ``results.csv``
(the summary) and ``fewshot_miou.png`` to ``--out``.
"""

from __future__ import annotations

import copy
import csv
import json
import time
from pathlib import Path

import torch

from .. import measure
from ..config import describe_device, seed_everything, versions
from ..config import device as pick_device
from ..data import SegmentationSet, make_segmentation_set
from ..masking import masked_mse, random_patch_mask
from ..mixers import available_mixers
from ..models import InpaintingModel, SegmentationModel, VisionBackbone

# predict_masks is re-exported: notebook 05 calls fewshot.predict_masks.
from ..train import autocast, chance_miou, evaluate_segmentation, predict_masks, train_segmentation  # noqa: F401
from .pretrain import load_pretrained

TEST_START = 0
SUPPORT_START = 100_000  # support images of seed s: SUPPORT_START + 1000 s + (0 .. K-1), disjoint from the test set


def make_task(size: int = 64, eval_images: int = 100, data_seed: int = 0) -> SegmentationSet:
    """The held-out test set of the ``"novel"`` classes (the same for every mixer, K and seed)."""
    return make_segmentation_set(eval_images, size, seed=data_seed, split="novel", start=TEST_START)


def support_set(shots: int, seed: int, size: int = 64, data_seed: int = 0) -> SegmentationSet:
    """The ``shots`` labelled training images of run ``seed`` (nested: the first K of a fixed list per seed)."""
    return make_segmentation_set(shots, size, seed=data_seed, split="novel", start=SUPPORT_START + 1000 * seed)


def get_backbone(mixer: str, init: str, seed: int = 0, checkpoints: str | Path | None = None) -> tuple[VisionBackbone, dict]:
    """``init="pretrained"``: the stored backbone; ``"random"``: the same architecture, freshly initialised."""
    backbone, meta = load_pretrained(mixer, checkpoints)
    if init == "pretrained":
        return backbone, meta
    if init != "random":
        raise ValueError(f"init: expected 'pretrained' or 'random', got {init!r}")
    torch.manual_seed(seed)
    return VisionBackbone(**meta["config"]), meta


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


def run_fewshot(
    mixers: list[str] | tuple[str, ...] | None = None,
    shots: list[int] | tuple[int, ...] = (1, 5, 10),
    seeds: list[int] | tuple[int, ...] = (0, 1, 2),
    *,
    inits: list[str] | tuple[str, ...] = ("pretrained",),
    finetune: bool = False,
    size: int = 64,
    eval_images: int = 100,
    head_steps: int = 500,
    finetune_steps: int = 300,
    device: str | torch.device | None = None,
    checkpoints: str | Path | None = None,
    progress: bool = True,
    keep_models: bool = False,
    timing_batch: int | None = 32,
) -> dict:
    """Run the protocol above; returns ``{"rows", "summary", "chance_miou", "class_names", "settings", ...}``.

    ``mixers``: registry names (default: every registered mixer; each needs a pretrained backbone in
    ``checkpoints``, also for ``init="random"``, which takes its architecture from there).

    ``rows``: one dict per (mixer, init, mode, K, seed) with ``miou`` and ``per_class_iou``. ``summary``: one per
    (mixer, init, mode, K) with ``miou_mean``, ``miou_std`` (over seeds), ``parameters``, ``train_step_ms``
    (measured here, one inpainting step at batch ``timing_batch`` on ``device``; ``None`` skips it). With
    ``keep_models`` the trained
    :class:`SegmentationModel` of seed ``seeds[0]`` is kept per (mixer, init, mode, K) under ``"models"``.
    """
    from tqdm.auto import tqdm

    if eval_images < 1:
        raise ValueError(f"eval_images: expected a positive int, got {eval_images}")
    mixers = available_mixers() if mixers is None else mixers
    dev = pick_device(device)
    test = make_task(size, eval_images)
    modes = ["head"] + (["finetune"] if finetune else [])
    rows, models, timings = [], {}, {}
    runs = [(m, i, mode, k, s) for m in mixers for i in inits for mode in modes for k in shots for s in seeds]
    bar = tqdm(runs, desc="few-shot runs", disable=not progress)
    started = time.perf_counter()
    for mixer, init, mode, k, seed in bar:
        bar.set_postfix(mixer=mixer, init=init, mode=mode, K=k, seed=seed)
        seed_everything(seed)
        backbone, meta = get_backbone(mixer, init, seed, checkpoints)
        if mixer not in timings:
            timings[mixer] = {"parameters": sum(p.numel() for p in backbone.parameters())}
            if timing_batch is not None:
                timings[mixer]["train_step_ms"] = 1e3 * time_train_step(backbone, timing_batch, device=dev)
        support = support_set(k, seed, size)
        model = SegmentationModel(backbone, test.num_classes)
        train_segmentation(
            model, support.images, support.masks, steps=head_steps if mode == "head" else finetune_steps,
            batch_size=16 if mode == "head" else min(8, k), freeze_backbone=mode == "head",
            lr=1e-2, seed=seed, device=dev, progress=False,
        )
        result = evaluate_segmentation(model, test.images, test.masks)
        rows.append({"mixer": mixer, "init": init, "mode": mode, "shots": k, "seed": seed, **result})
        if keep_models and seed == seeds[0]:
            models[(mixer, init, mode, k)] = model.cpu()
    summary = summarise(rows, timings)
    out = {
        "rows": rows,
        "summary": summary,
        "chance_miou": chance_miou(test.masks, test.num_classes),
        "class_names": test.class_names,
        "settings": {"mixers": list(mixers), "shots": list(shots), "seeds": list(seeds), "inits": list(inits),
                     "modes": modes, "size": size, "eval_images": eval_images, "head_steps": head_steps,
                     "finetune_steps": finetune_steps, "timing_batch": timing_batch},
        "device": describe_device(dev),
        "seconds": time.perf_counter() - started,
        "versions": versions(),
    }
    if keep_models:
        out["models"] = models
        out["test"] = test
    return out


def summarise(rows: list[dict], timings: dict | None = None) -> list[dict]:
    """Mean and standard deviation (over seeds, ``ddof=1``; 0 for one seed) of mIoU per (mixer, init, mode, K)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["mixer"], row["init"], row["mode"], row["shots"]), []).append(row)
    summary = []
    for (mixer, init, mode, k), group in groups.items():
        values = torch.tensor([r["miou"] for r in group], dtype=torch.float64)
        per_class = torch.tensor([r["per_class_iou"] for r in group], dtype=torch.float64).nanmean(0)
        summary.append({
            "mixer": mixer, "init": init, "mode": mode, "shots": k, "seeds": len(group),
            "miou_mean": float(values.mean()), "miou_std": float(values.std()) if len(group) > 1 else 0.0,
            "per_class_iou_mean": per_class.tolist(),
            **((timings or {}).get(mixer, {})),
        })
    return summary


def format_table(results: dict) -> str:
    """The summary as a Markdown table (mIoU mean ± std over seeds, %)."""
    batch = results["settings"].get("timing_batch")
    step = f"train step (ms, batch {batch})" if batch is not None else "train step (ms)"
    lines = [f"| mixer | init | training | K | mIoU (%) | params | {step} |",
             "|---|---|---|---|---|---|---|"]
    for r in results["summary"]:
        lines.append(
            f"| {r['mixer']} | {r['init']} | {r['mode']} | {r['shots']} | {100 * r['miou_mean']:.1f} ± "
            f"{100 * r['miou_std']:.1f} | {r.get('parameters', 0):,} | "
            + (f"{r['train_step_ms']:.0f} |" if "train_step_ms" in r else "not measured |")
        )
    lines.append(f"\nChance level (label-blind guess): {100 * results['chance_miou']:.1f} % mIoU; "
                 f"{results['settings']['eval_images']} test images; device: {results['device']}.")
    return "\n".join(lines)


def compare(results: dict, a: str = "afno", b: str = "attention", init: str = "pretrained", mode: str = "head") -> str:
    """One line per K comparing mixers ``a`` and ``b``: the mIoU gap and whether it exceeds the seeds' spread.

    "Clear" means the means differ by more than the sum of the two standard deviations; anything less is
    reported as no clear difference (three seeds cannot resolve it).
    """
    lines = []
    rows = {(r["mixer"], r["shots"]): r for r in results["summary"] if r["init"] == init and r["mode"] == mode}
    for k in sorted({key[1] for key in rows}):
        if (a, k) not in rows or (b, k) not in rows:
            continue
        ra, rb = rows[(a, k)], rows[(b, k)]
        gap = 100 * (ra["miou_mean"] - rb["miou_mean"])
        spread = 100 * (ra["miou_std"] + rb["miou_std"])
        best = max((r for r in rows.values() if r["shots"] == k), key=lambda r: r["miou_mean"])
        verdict = (f"{a if gap > 0 else b} is clearly ahead" if abs(gap) > spread and results["settings"]["seeds"][1:]
                   else "no clear difference (within the spread over seeds)")
        lines.append(f"K = {k}: {a} {100 * ra['miou_mean']:.1f} % vs {b} {100 * rb['miou_mean']:.1f} % mIoU "
                     f"(gap {gap:+.1f} points, spread {spread:.1f}): {verdict}; best mixer: {best['mixer']} "
                     f"({100 * best['miou_mean']:.1f} %); chance level {100 * results['chance_miou']:.1f} %.")
    return "\n".join(lines)


def save_results(results: dict, out: str | Path) -> list[Path]:
    """Write ``results.json`` and ``results.csv`` to ``out``; returns the paths (the command line adds the figure,
    ``fewshot_miou.png``: :func:`afno_tutorial.viz.segmentation.plot_miou_bars`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plain = {k: v for k, v in results.items() if k not in ("models", "test")}
    paths = [out / "results.json", out / "results.csv"]
    paths[0].write_text(json.dumps(plain, indent=1, default=float) + "\n")
    with paths[1].open("w", newline="") as f:
        fields = ["mixer", "init", "mode", "shots", "seeds", "miou_mean", "miou_std", "parameters", "train_step_ms"]
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results["summary"])
    return paths


# ----------------------------------------------------------------------------------------------- high resolution


@torch.no_grad()
def time_forward(backbone: VisionBackbone, size: int, device: str | torch.device | None = None, repeats: int = 3) -> float:
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
def segment_large(model: SegmentationModel, image: torch.Tensor, device: str | torch.device | None = None) -> torch.Tensor:
    """``image (C, H, W) -> (H, W)`` predicted classes for one (large) image, in one forward pass."""
    dev = pick_device(device)
    model = model.to(dev).eval()
    with autocast(dev):
        logits = model(image[None].to(dev))
    return logits.argmax(1)[0].cpu()
