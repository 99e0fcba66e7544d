"""Training: masked-patch inpainting pretraining, few-shot segmentation, metrics (PSNR, IoU) and checkpoints.

Runs on CUDA when available (bf16 autocast; every spectral mixer keeps its FFT part in float32) and on the CPU
otherwise. Every trainer runs the loop of :mod:`afno_tutorial.loop`: step ``s`` draws its batch and mask from a
generator seeded by ``(seed, s)``; the model, optimizer, schedule, step count and history are saved to
``checkpoint`` every ``checkpoint_every`` steps, at the end, and when interrupted (Ctrl-C, wherever it lands) or
stopped by a non-finite loss or gradient (the state saved is then the last finite one). Calling the trainer
again resumes at the saved step and gives the same weights, bit for bit, as an uninterrupted run (on the CPU;
CUDA kernels may differ in the last bits). A resumed run takes the ``lr`` and ``weight_decay`` passed now (lower
the learning rate after a divergence and call again); any other setting that differs from the checkpoint's
(``steps``, ``batch_size``, ``seed``, the images, ...) is refused with an error naming it.

Segmentation masks hold class indices ``0 .. num_classes - 1``; the label :data:`IGNORE_INDEX` (255, as in
Pascal VOC and Cityscapes) marks pixels that no loss or metric counts.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checks import IGNORE_INDEX, check_float, check_positive_int
from .config import device as pick_device
from .loop import check_run_settings, cosine_schedule, fingerprint, load_checkpoint, save_checkpoint, train_loop
from .masking import random_patch_mask
from .models import InpaintingModel, SegmentationModel, VisionBackbone

__all__ = [  # cosine_schedule, save_checkpoint and load_checkpoint live in .loop; kept importable from here
    "IGNORE_INDEX", "autocast", "chance_miou", "confusion_matrix", "cosine_schedule", "dihedral",
    "evaluate_inpainting", "evaluate_segmentation", "iou_from_confusion", "load_backbone", "load_checkpoint", "miou",
    "predict_masks", "pretrain_inpainting", "save_backbone", "save_checkpoint", "train_segmentation",
]

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
            and on interruption). Resuming takes ``lr`` and ``weight_decay`` from this call; ``steps``,
            ``batch_size``, ``seed``, ``mask_ratio`` and ``images`` must be the checkpoint's (else a ``ValueError``).
        max_seconds: stop early (saving the checkpoint) after this many seconds; call again to continue.

    Returns:
        ``{"step": [...], "loss": [...], "lr": [...], "seconds_per_step": float, "completed": bool, "device": str}``
        (``loss`` is the masked MSE of each step; ``seconds_per_step`` the mean wall time of the steps run;
        ``changes``, when present, lists the steps at which a resumed run changed ``lr`` or ``weight_decay``).

    Raises:
        FloatingPointError: a non-finite loss or gradient; nothing non-finite was applied or saved.
    """
    if not isinstance(model, InpaintingModel):
        raise TypeError(f"model: expected an InpaintingModel, got {type(model).__name__}")
    check_run_settings(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                       checkpoint_every=checkpoint_every, max_seconds=max_seconds)
    check_float(mask_ratio, "mask_ratio", low=0.0, high=1.0, high_open=True)
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

    settings = {"batch_size": batch_size, "seed": seed, "mask_ratio": mask_ratio}
    if checkpoint is not None:
        settings["images"] = fingerprint(images)
    return train_loop(model, list(model.parameters()), loss_at, steps=steps, lr=lr, weight_decay=weight_decay,
                      seed=seed, settings=settings, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                      progress=progress, desc=f"inpainting ({model.backbone.mixer_name})", kind="inpainting",
                      dev=dev, max_seconds=max_seconds, autocast=autocast)


def _check_image_batch(images: object, channels: int, patch_size: int) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"images: expected a float tensor (N, {channels}, H, W), "
                         f"got {getattr(images, 'shape', images)!r}")
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


def pixel_cross_entropy(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the pixels not labelled :data:`IGNORE_INDEX`: ``logits (B, K, H, W)``,
    ``masks (B, H, W)``.

    A batch whose pixels are all ignored gives 0 (and no gradient), not the NaN of an empty mean.
    """
    total = F.cross_entropy(logits.float(), masks, ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (masks != IGNORE_INDEX).sum().clamp_min(1)


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
        images: ``(K, C, H, W)`` float; masks: ``(K, H, W)`` int64 class indices ``< model.num_classes``, or
            :data:`IGNORE_INDEX` (255) for pixels the loss skips.
        lr: defaults to 1e-2 for the head alone, 1e-3 for fine-tuning.
        checkpoint: as in :func:`pretrain_inpainting` (``lr`` and ``weight_decay`` are taken from this call;
            ``steps``, ``batch_size``, ``seed``, ``augment``, ``images`` and ``masks`` must be the checkpoint's).

    Returns:
        the history ``{"step", "loss", "lr", "seconds_per_step", ...}`` (loss: pixel cross-entropy over the
        pixels that are not ignored).
    """
    if not isinstance(model, SegmentationModel):
        raise TypeError(f"model: expected a SegmentationModel, got {type(model).__name__}")
    _check_image_batch(images, model.backbone.patch_embed.in_chans, model.backbone.patch_size)
    expected = (images.shape[0],) + tuple(images.shape[-2:])
    if not isinstance(masks, torch.Tensor) or masks.shape != expected or masks.dtype != torch.long:
        got = f"{masks.dtype} {tuple(masks.shape)}" if isinstance(masks, torch.Tensor) else type(masks).__name__
        raise ValueError(f"masks: expected int64 of shape {expected}, got {got}")
    if model.num_classes > IGNORE_INDEX:
        raise ValueError(f"model: num_classes={model.num_classes} reaches the ignore label {IGNORE_INDEX}; "
                         f"expected at most {IGNORE_INDEX} classes")
    labelled = masks[masks != IGNORE_INDEX]
    if labelled.numel() == 0:
        raise ValueError(f"masks: every pixel is the ignore label {IGNORE_INDEX}; expected some labelled pixels")
    if int(labelled.min()) < 0 or int(labelled.max()) >= model.num_classes:
        raise ValueError(f"masks: expected labels in 0..{model.num_classes - 1} (or {IGNORE_INDEX} = ignore), "
                         f"got {int(labelled.min())}..{int(labelled.max())}")
    lr = (1e-2 if freeze_backbone else 1e-3) if lr is None else lr
    check_run_settings(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                       checkpoint_every=checkpoint_every)
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
            return pixel_cross_entropy(logits, aug_masks[idx])

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
            return pixel_cross_entropy(logits, dihedral(labels[idx], k))

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

    settings = {"batch_size": batch_size, "seed": seed, "augment": augment}
    if checkpoint is not None:
        settings.update(images=fingerprint(images), masks=fingerprint(masks))
        if freeze_backbone:  # the features were computed from the backbone passed now
            settings["backbone"] = fingerprint(*model.backbone.state_dict().values())
    history = train_loop(_HeadOnly(), params, loss_at, steps=steps, lr=lr, weight_decay=weight_decay, seed=seed,
                         settings=settings, checkpoint=checkpoint, checkpoint_every=checkpoint_every,
                         progress=progress, desc=f"{'head' if freeze_backbone else 'fine-tune'} "
                         f"({model.backbone.mixer_name})", kind="segmentation-head" if freeze_backbone
                         else "segmentation-finetune", dev=dev, max_seconds=None, autocast=autocast)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)
    return history


# ---------------------------------------------------------------------------------------------------------------
# Backbones on disk


def save_backbone(backbone: VisionBackbone, path: str | Path, config: dict, meta: dict | None = None,
                  dtype: torch.dtype = torch.float32) -> None:
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
    if not {"config", "state_dict"} <= set(blob):
        raise ValueError(f"path: {path} is not a backbone checkpoint (no config and state_dict; see save_backbone)")
    backbone = VisionBackbone(**blob["config"])
    backbone.load_state_dict(blob["state_dict"])
    backbone.eval()
    return backbone, {"config": blob["config"], **blob["meta"]}
