"""Training: masked-patch inpainting pretraining, few-shot segmentation, metrics (PSNR, IoU) and checkpoints.

Runs on CUDA when available (bf16 autocast; every spectral mixer keeps its FFT part in float32) and on the CPU
otherwise. Every loop draws step ``s``'s batch and mask from a generator seeded by ``(seed, s)``, and saves the
model, optimizer, schedule and history to ``checkpoint`` every ``checkpoint_every`` steps, at the end, and when
interrupted (Ctrl-C): calling it again with the same arguments resumes at the saved step and gives the same
weights as an uninterrupted run (on the CPU; CUDA kernels may differ in the last bits).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_positive_int
from .config import describe_device
from .config import device as pick_device
from .masking import random_patch_mask
from .models import InpaintingModel, SegmentationModel, VisionBackbone

# ---------------------------------------------------------------------------------------------------------------
# Shared plumbing


def _step_generator(seed: int, step: int) -> torch.Generator:
    """A generator for step ``step`` of run ``seed``: batches do not depend on where a run was resumed."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def autocast(dev: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (the mixers keep their spectral part in float32); nothing on the CPU."""
    if dev.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cosine_schedule(step: int, steps: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then a cosine decay to 0 at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def save_checkpoint(path: str | Path, state: dict) -> None:
    """``torch.save`` to a temporary file then rename: an interrupt never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    return torch.load(Path(path), map_location="cpu", weights_only=False)


def _check_steps(steps: int, batch_size: int, lr: float) -> None:
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    if not lr > 0:
        raise ValueError(f"lr: expected a positive learning rate, got {lr}")


def _train_loop(
    model: nn.Module,
    params: list,
    loss_at: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float,
    weight_decay: float,
    checkpoint: str | Path | None,
    checkpoint_every: int,
    progress: bool,
    desc: str,
    kind: str,
    dev: torch.device,
    max_seconds: float | None,
) -> dict:
    """AdamW + warm-up/cosine schedule over ``loss_at(step)``, with checkpoint resume; returns the history."""
    from tqdm.auto import tqdm

    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warmup = max(1, min(100, steps // 20))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_schedule(s, steps, warmup))
    history: dict = {"step": [], "loss": [], "lr": [], "seconds_per_step": float("nan"), "timed_steps": 0,
                     "steps": steps, "device": describe_device(dev), "completed": False}
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint)
        if state.get("kind") != kind:
            raise ValueError(f"checkpoint: {checkpoint} holds a {state.get('kind')!r} run, expected {kind!r}")
        if state["history"]["steps"] != steps:
            raise ValueError(
                f"steps: the checkpoint {checkpoint} was made for steps={state['history']['steps']}, got {steps}; "
                "use the same steps (the schedule depends on it) or another checkpoint path"
            )
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise ValueError(f"checkpoint: {checkpoint} does not match this model ({exc})") from exc
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = state["history"]
        start = state["step"]

    def save(step: int) -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, {"kind": kind, "step": step, "model": model.state_dict(),
                                         "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                         "history": history})

    model.train()
    step = start
    timed, began = 0, time.perf_counter()
    loop_start = began  # for max_seconds; `began` restarts at every checkpoint (timing)
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress, leave=False)
    try:
        while step < steps:
            if max_seconds is not None and time.perf_counter() - loop_start > max_seconds:
                break
            with autocast(dev):
                loss = loss_at(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at step {step}; lower lr (got {lr})")
            history["step"].append(step)
            history["loss"].append(value)
            history["lr"].append(optimizer.param_groups[0]["lr"])
            step += 1
            timed += 1
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}")
            if step % checkpoint_every == 0 and step < steps:
                _update_timing(history, timed, time.perf_counter() - began)
                timed, began = 0, time.perf_counter()
                save(step)
    finally:
        # Also on KeyboardInterrupt: the steps done so far are kept and the next call resumes after them.
        bar.close()
        _update_timing(history, timed, time.perf_counter() - began)
        history["completed"] = step >= steps
        save(step)
    model.eval()
    return history


def _update_timing(history: dict, steps: int, seconds: float) -> None:
    """Running mean of seconds per step over every session of a (resumed) run."""
    if steps == 0:
        return
    done = history["timed_steps"]
    old = history["seconds_per_step"] if done else 0.0
    history["seconds_per_step"] = (old * done + seconds) / (done + steps)
    history["timed_steps"] = done + steps


# ---------------------------------------------------------------------------------------------------------------
# Inpainting pretraining


def pretrain_inpainting(
    model: InpaintingModel,
    images: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 16,
    lr: float = 1e-3,
    mask_ratio: float = 0.5,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    weight_decay: float = 0.05,
    checkpoint_every: int = 200,
    max_seconds: float | None = None,
) -> dict:
    """Masked-patch inpainting: hide ``mask_ratio`` of the patches, predict their pixels, MSE on hidden pixels.

    Args:
        model: the :class:`InpaintingModel` to train (moved to ``device``, left in eval mode).
        images: ``(N, C, H, W)`` float in [0, 1]; each step draws ``batch_size`` of them at random.
        steps: total optimizer steps (AdamW, linear warm-up then cosine decay to 0).
        checkpoint: a file to resume from if it exists and to save to (every ``checkpoint_every`` steps, at the end
            and on interruption).
        max_seconds: stop early (saving the checkpoint) after this many seconds; call again to continue.

    Returns:
        ``{"step": [...], "loss": [...], "lr": [...], "seconds_per_step": float, "completed": bool, "device": str}``
        (``loss`` is the masked MSE of each step; ``seconds_per_step`` the mean wall time of the steps run).
    """
    if not isinstance(model, InpaintingModel):
        raise TypeError(f"model: expected an InpaintingModel, got {type(model).__name__}")
    _check_steps(steps, batch_size, lr)
    _check_image_batch(images, model.in_chans, model.backbone.patch_size)
    dev = pick_device(device)
    model.to(dev)
    data = images.to(dev)
    grid = (images.shape[-2] // model.backbone.patch_size, images.shape[-1] // model.backbone.patch_size)

    def loss_at(step: int) -> torch.Tensor:
        gen = _step_generator(seed, step)
        idx = torch.randint(images.shape[0], (batch_size,), generator=gen)
        patch_mask = random_patch_mask(batch_size, grid, mask_ratio, generator=gen).to(dev)
        batch = data[idx.to(dev)]
        return model.masked_loss(batch, patch_mask)

    return _train_loop(model, list(model.parameters()), loss_at, steps=steps, lr=lr, weight_decay=weight_decay,
                       checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress,
                       desc=f"inpainting ({model.backbone.mixer_name})", kind="inpainting", dev=dev,
                       max_seconds=max_seconds)


def _check_image_batch(images: object, channels: int, patch_size: int) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"images: expected a float tensor (N, {channels}, H, W), got {getattr(images, 'shape', images)!r}")
    if images.shape[1] != channels or images.shape[-1] % patch_size or images.shape[-2] % patch_size:
        raise ValueError(
            f"images: expected (N, {channels}, H, W) with H, W multiples of patch_size={patch_size}, "
            f"got {tuple(images.shape)}"
        )


@torch.no_grad()
def evaluate_inpainting(
    model: InpaintingModel,
    images: torch.Tensor,
    *,
    mask_ratio: float = 0.5,
    seed: int = 0,
    batch_size: int = 32,
) -> dict:
    """Reconstruction quality on the hidden pixels of fixed random masks (seeded): ``{"psnr": dB, "mse": float}``.

    ``images (N, C, H, W)`` in [0, 1], so ``psnr = 10 log10(1 / mse)``. Runs on the model's device.
    """
    _check_image_batch(images, model.in_chans, model.backbone.patch_size)
    check_positive_int(batch_size, "batch_size")
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    p = model.backbone.patch_size
    grid = (images.shape[-2] // p, images.shape[-1] // p)
    gen = torch.Generator().manual_seed(seed)
    sq_err, count = 0.0, 0.0
    for i in range(0, images.shape[0], batch_size):
        batch = images[i : i + batch_size].to(dev)
        patch_mask = random_patch_mask(batch.shape[0], grid, mask_ratio, generator=gen).to(dev)
        with autocast(dev):
            pred = model(batch, patch_mask).float()
        pixel_mask = patch_mask.repeat_interleave(p, 1).repeat_interleave(p, 2)[:, None].float()
        sq_err += float(((pred - batch) ** 2 * pixel_mask).sum())
        count += float(pixel_mask.sum()) * batch.shape[1]
    model.train(was_training)
    mse = sq_err / max(count, 1.0)
    return {"psnr": 10.0 * math.log10(1.0 / max(mse, 1e-12)), "mse": mse}


# ---------------------------------------------------------------------------------------------------------------
# Segmentation metrics


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(num_classes, num_classes)`` int64 counts, row = true class, column = predicted class.

    ``pred``, ``target``: integer tensors of the same shape; target values outside ``0..num_classes-1``
    (e.g. an ignore label 255) are skipped.
    """
    check_positive_int(num_classes, "num_classes")
    if pred.shape != target.shape:
        raise ValueError(f"pred: expected the shape of target {tuple(target.shape)}, got {tuple(pred.shape)}")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    valid = (target >= 0) & (target < num_classes)
    idx = target[valid] * num_classes + pred[valid].clamp(0, num_classes - 1)
    return torch.bincount(idx.cpu(), minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_from_confusion(conf: torch.Tensor) -> torch.Tensor:
    """Per-class IoU ``TP / (TP + FP + FN)`` (float64); NaN for a class absent from both truth and prediction."""
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))


def miou(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> float:
    """Mean IoU over the classes present in ``target`` or ``pred`` (NaN classes skipped)."""
    return float(torch.nanmean(iou_from_confusion(confusion_matrix(pred, target, num_classes))))


def chance_miou(masks: torch.Tensor, num_classes: int) -> float:
    """mIoU of the better of two label-blind guesses: every pixel the most frequent class, or uniformly random.

    For a uniform random guess, class ``c`` of pixel frequency ``f_c`` has expected IoU
    ``(f_c / C) / (f_c + 1/C - f_c / C)``. A trained model should beat this clearly.
    """
    freq = torch.bincount(masks.reshape(-1).long(), minlength=num_classes)[:num_classes].double()
    freq = freq / freq.sum()
    present = freq > 0
    c = num_classes
    uniform = ((freq / c) / (freq + 1 / c - freq / c))[present].mean()
    majority = float(freq.max()) / present.sum()  # IoU of the majority class = its frequency; others 0
    return float(max(uniform, majority))


@torch.no_grad()
def predict_masks(model: SegmentationModel, images: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """``images (N, C, H, W) -> (N, H, W)`` int64 argmax predictions (on the model's device, returned on CPU)."""
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        batch = images[i : i + batch_size].to(dev)
        with autocast(dev):
            out.append(model(batch).argmax(1).cpu())
    model.train(was_training)
    return torch.cat(out)


def evaluate_segmentation(
    model: SegmentationModel, images: torch.Tensor, masks: torch.Tensor, *, batch_size: int = 32
) -> dict:
    """``{"miou": float, "per_class_iou": list[float], "pixel_accuracy": float}`` on ``images``/``masks``."""
    if images.shape[0] != masks.shape[0] or images.shape[-2:] != masks.shape[-2:]:
        raise ValueError(f"masks: expected (N, H, W) matching images {tuple(images.shape)}, got {tuple(masks.shape)}")
    pred = predict_masks(model, images, batch_size)
    conf = confusion_matrix(pred, masks, model.num_classes)
    iou = iou_from_confusion(conf)
    return {
        "miou": float(torch.nanmean(iou)),
        "per_class_iou": iou.tolist(),
        "pixel_accuracy": float(conf.diag().sum() / conf.sum().clamp_min(1)),
    }


# ---------------------------------------------------------------------------------------------------------------
# Few-shot segmentation


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th of the 8 flips/rotations (``k`` in 0..7) of the last two axes of ``x``."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def train_segmentation(
    model: SegmentationModel,
    images: torch.Tensor,
    masks: torch.Tensor,
    *,
    steps: int = 300,
    batch_size: int = 16,
    lr: float | None = None,
    freeze_backbone: bool = True,
    augment: bool = True,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    weight_decay: float = 1e-4,
    checkpoint_every: int = 200,
) -> dict:
    """Few-shot segmentation from ``K`` labelled images: a linear head on the frozen backbone, or full fine-tuning.

    With ``freeze_backbone=True`` (default) the backbone's tokens of every training image and its 8 flips and
    rotations (``augment``) are computed once, and only the head (``dim x num_classes`` weights) is trained on
    them: the backbone is a fixed feature extractor, which is what the few-shot protocol measures. With
    ``freeze_backbone=False`` everything is trained on randomly flipped/rotated batches (backbone learning rate
    a tenth of the head's).

    Args:
        model: :class:`SegmentationModel`, moved to ``device``, left in eval mode.
        images: ``(K, C, H, W)`` float; masks: ``(K, H, W)`` int64 class indices ``< model.num_classes``.
        lr: defaults to 1e-2 for the head alone, 1e-3 for fine-tuning.

    Returns:
        the history ``{"step", "loss", "lr", "seconds_per_step", ...}`` (loss: pixel cross-entropy).
    """
    if not isinstance(model, SegmentationModel):
        raise TypeError(f"model: expected a SegmentationModel, got {type(model).__name__}")
    _check_image_batch(images, model.backbone.patch_embed.in_chans, model.backbone.patch_size)
    if masks.shape != (images.shape[0],) + images.shape[-2:] or masks.dtype != torch.long:
        raise ValueError(f"masks: expected int64 of shape {(images.shape[0],) + tuple(images.shape[-2:])}, "
                         f"got {masks.dtype} {tuple(masks.shape)}")
    if int(masks.min()) < 0 or int(masks.max()) >= model.num_classes:
        raise ValueError(f"masks: expected labels in 0..{model.num_classes - 1}, got {int(masks.min())}..{int(masks.max())}")
    lr = (1e-2 if freeze_backbone else 1e-3) if lr is None else lr
    _check_steps(steps, batch_size, lr)
    dev = pick_device(device)
    model.to(dev)
    views = range(8) if augment else range(1)
    size = images.shape[-2:]

    if freeze_backbone:
        model.backbone.eval()
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        if augment and size[0] != size[1]:
            views = (0, 2, 4, 6)  # only the shape-preserving flips/rotations of a non-square image
        with torch.no_grad():
            aug_images = torch.cat([dihedral(images, k) for k in views])
            aug_masks = torch.cat([dihedral(masks, k) for k in views]).to(dev)
            feats = []
            for i in range(0, aug_images.shape[0], 32):
                with autocast(dev):
                    feats.append(model.backbone(aug_images[i : i + 32].to(dev)).float())
            feats = torch.cat(feats)  # (8K, h, w, dim)

        def loss_at(step: int) -> torch.Tensor:
            gen = _step_generator(seed, step)
            idx = torch.randint(feats.shape[0], (batch_size,), generator=gen).to(dev)
            logits = model.head(feats[idx]).permute(0, 3, 1, 2)
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            return F.cross_entropy(logits.float(), aug_masks[idx])

        params = list(model.head.parameters())
    else:
        for p in model.parameters():
            p.requires_grad_(True)
        data, labels = images.to(dev), masks.to(dev)

        def loss_at(step: int) -> torch.Tensor:
            gen = _step_generator(seed, step)
            idx = torch.randint(images.shape[0], (batch_size,), generator=gen).to(dev)
            k = int(torch.randint(len(views), (1,), generator=gen)) if size[0] == size[1] else 0
            logits = model(dihedral(data[idx], k))
            return F.cross_entropy(logits.float(), dihedral(labels[idx], k))

        params = [{"params": model.backbone.parameters(), "lr": lr * 0.1}, {"params": model.head.parameters()}]

    # The frozen backbone stays in eval mode inside the loop (the loop calls model.train()).
    class _HeadOnly(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def train(self, mode: bool = True):  # noqa: D401 - keeps a frozen backbone in eval mode
            model.head.train(mode)
            if not freeze_backbone:
                model.backbone.train(mode)
            return self

        def state_dict(self, *args, **kwargs):
            return model.state_dict(*args, **kwargs)

        def load_state_dict(self, state, strict: bool = True):
            return model.load_state_dict(state, strict)

    history = _train_loop(_HeadOnly(), params, loss_at, steps=steps, lr=lr, weight_decay=weight_decay,
                          checkpoint=checkpoint, checkpoint_every=checkpoint_every, progress=progress,
                          desc=f"{'head' if freeze_backbone else 'fine-tune'} ({model.backbone.mixer_name})",
                          kind="segmentation-head" if freeze_backbone else "segmentation-finetune", dev=dev,
                          max_seconds=None)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return history


# ---------------------------------------------------------------------------------------------------------------
# Backbones on disk


def save_backbone(
    backbone: VisionBackbone, path: str | Path, config: dict, meta: dict | None = None, dtype: torch.dtype = torch.float32
) -> None:
    """Save ``backbone`` with the ``config`` that rebuilds it (``VisionBackbone(**config)``).

    ``dtype=torch.float16`` halves the file (weights are cast back to float32 when loaded).
    """
    state = {k: v.detach().cpu().to(dtype).contiguous() for k, v in backbone.state_dict().items()}
    save_checkpoint(path, {"config": dict(config), "state_dict": state, "meta": dict(meta or {})})


def load_backbone(path: str | Path) -> tuple[VisionBackbone, dict]:
    """``(backbone, meta)`` from a file written by :func:`save_backbone` (``meta`` includes ``config``)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"path: no backbone checkpoint at {path}")
    blob = load_checkpoint(path)
    backbone = VisionBackbone(**blob["config"])
    backbone.load_state_dict(blob["state_dict"])
    backbone.eval()
    return backbone, {"config": blob["config"], **blob["meta"]}
