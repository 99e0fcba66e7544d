"""Training and evaluating a SegFormer on segmentation pairs: SegFormer's Cityscapes recipe, resumable exactly.

Recipe (SegFormer on Cityscapes, scaled to one device): AdamW (lr 6e-5, betas 0.9/0.999, weight decay 0.01; the
decode head's learning rate 10x, no decay on norms), a linear warm-up from 1e-6 of the rate over 1,500 steps, then
a poly decay (power 1) to 0; batch 8 of 1024 x 1024 crops; cross-entropy ignoring label 255. On CUDA the forward
runs under bf16 autocast (every spectral mixer keeps its FFT part in float32).

Step ``s`` trains on the samples ``s * batch .. (s + 1) * batch - 1`` of a stream that visits the data in a fresh
permutation per epoch; sample ``g`` is augmented from a generator seeded by ``(seed, g)``. A sample therefore
depends on its number alone, not on workers or on where a run resumed. The checkpoint holds the model, optimizer,
schedule, history and the random state at a step boundary; it is written atomically, and never from a non-finite
state. Ctrl-C ends the run at the next step boundary and saves it; running again with the same arguments resumes
and gives the same weights as an uninterrupted run (on the CPU; CUDA kernels may differ in the last bits).
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_pair, check_positive_int
from ..config import describe_device, versions
from ..config import device as pick_device
from ..data.augment import IGNORE_INDEX
from ..measure import add_step_time
from ..train import autocast, confusion_matrix, iou_from_confusion, load_checkpoint, save_checkpoint
from .model import normalize

CHECKPOINT_KIND = "segformer"


def poly_schedule(step: int, steps: int, warmup: int = 1500, power: float = 1.0, warmup_ratio: float = 1e-6) -> float:
    """Learning-rate factor at ``step``: linear from ``warmup_ratio`` to 1 over ``warmup`` steps, then
    ``(1 - progress) ** power`` down to 0 at ``steps``."""
    if step < warmup:
        return warmup_ratio + (1.0 - warmup_ratio) * step / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return max(0.0, 1.0 - progress) ** power


def parameter_groups(model: nn.Module, lr: float, weight_decay: float, head_lr_mult: float = 10.0) -> list[dict]:
    """AdamW groups: the decode head at ``head_lr_mult * lr``; no weight decay on normalisation layers."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault((name.startswith("decode_head."), "norm" in name), []).append(param)
    return [{"params": params, "lr": lr * (head_lr_mult if head else 1.0),
             "weight_decay": 0.0 if norm else weight_decay}
            for (head, norm), params in sorted(groups.items())]  # fmt: skip


def segmentation_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits (B, K, h, w)`` upsampled bilinearly to ``masks (B, H, W)``, label 255 ignored
    (0, with a gradient, when every pixel is ignored)."""
    logits = F.interpolate(logits.float(), size=masks.shape[-2:], mode="bilinear", align_corners=False)
    if not bool((masks != IGNORE_INDEX).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, masks, ignore_index=IGNORE_INDEX)


class _StepSamples(torch.utils.data.Dataset):
    """Sample ``g`` of the training stream: an epoch-permuted frame, augmented from a generator seeded by ``g``."""

    def __init__(self, dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed
        self._epoch, self._order = -1, None

    def __len__(self) -> int:  # the stream is endless; the sampler says which samples to draw
        return 2**62

    def __getitem__(self, sample: int):
        epoch, position = divmod(sample, len(self.dataset))
        if epoch != self._epoch:
            self._epoch = epoch
            shuffle = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            self._order = torch.randperm(len(self.dataset), generator=shuffle)
        image, mask = self.dataset.load(int(self._order[position]))
        return self.dataset.augment(image, mask, torch.Generator().manual_seed(self.seed * 1_000_003 + sample))


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _finite(model: nn.Module, optimizer: torch.optim.Optimizer) -> bool:
    tensors = list(model.state_dict().values())
    tensors += [v for s in optimizer.state.values() for v in s.values() if isinstance(v, torch.Tensor)]
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def write_json(path: str | Path, payload: dict) -> None:
    """Write ``payload`` as JSON atomically (a temporary file renamed over ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=float))
    os.replace(tmp, path)


class _DeferInterrupt:
    """While active (main thread only), Ctrl-C sets ``requested`` instead of raising mid-step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def train_segformer(
    model: nn.Module,
    dataset,
    *,
    steps: int,
    batch_size: int = 8,
    lr: float = 6e-5,
    weight_decay: float = 0.01,
    head_lr_mult: float = 10.0,
    warmup: int = 1500,
    power: float = 1.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1000,
    log: str | Path | None = None,
    run: dict | None = None,
    num_workers: int = 0,
    max_seconds: float | None = None,
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> dict:
    """Train ``model`` (a SegFormer) on ``dataset`` with SegFormer's recipe; resumes from ``checkpoint`` if it exists.

    Args:
        dataset: ``len``, ``load(i) -> (image (3, H, W) in [0, 1], mask (H, W) int64)`` and
            ``augment(image, mask, generator)`` giving crops of one size (:class:`~afno_tutorial.data.Cityscapes`
            with ``crop_size``, :class:`~afno_tutorial.data.SegmentationPairs`).
        steps: optimizer steps of the whole run (the schedule depends on it).
        warmup: warm-up steps (capped at ``steps``).
        checkpoint: file to resume from and to save to every ``checkpoint_every`` steps, at the end and when
            stopped (Ctrl-C, ``max_seconds``, an error after a completed step).
        log: a JSON file rewritten at every save: ``run``, device, versions, per-step loss and learning rate.
        run: what the run was built from (variant, mixer, crop, ...): stored, and checked against the checkpoint.
        num_workers: data-loading processes (0: in this process).
        max_seconds: stop after this long (saving); call again to continue.
        on_step: called as ``on_step(step, loss)`` after each step.

    Returns:
        the history ``{"step", "loss", "lr", "seconds_per_step", "completed", ...}``.
    """
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(checkpoint_every, "checkpoint_every")
    if not lr > 0:
        raise ValueError(f"lr: expected a positive learning rate, got {lr}")
    if len(dataset) < 1:
        raise ValueError("dataset: expected at least one (image, mask) pair, got none")
    dev = pick_device(device)
    model.to(dev)
    warmup = min(max(0, int(warmup)), steps)
    optimizer = torch.optim.AdamW(parameter_groups(model, lr, weight_decay, head_lr_mult), lr=lr, betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: poly_schedule(s, steps, warmup, power))
    settings = {"steps": steps, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                "head_lr_mult": head_lr_mult, "warmup": warmup, "power": power, "seed": seed}  # fmt: skip
    run = {**(run or {}), **settings}
    history: dict = {"step": [], "loss": [], "lr": [], "seconds_per_step": float("nan"), "timed_steps": 0,
                     "completed": False}  # fmt: skip
    start = 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint)
        if state.get("kind") != CHECKPOINT_KIND:
            raise ValueError(f"checkpoint: {checkpoint} holds a {state.get('kind')!r} run, "
                             f"expected {CHECKPOINT_KIND!r}")
        for key, value in run.items():
            if key in state["run"] and state["run"][key] != value:
                raise ValueError(f"{key}: the checkpoint {checkpoint} was made with {key}={state['run'][key]!r}, got "
                                 f"{value!r}; use the same value or another checkpoint path")  # fmt: skip
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise ValueError(f"checkpoint: {checkpoint} does not match this model ({exc})") from exc
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start = state["history"], state["step"]
        _set_rng_state(state["rng"])

    def save(step: int, rng: dict) -> bool:
        if not _finite(model, optimizer):
            return False
        if checkpoint is not None:
            save_checkpoint(checkpoint, {"kind": CHECKPOINT_KIND, "step": step, "run": run, "model": model.state_dict(),
                                         "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                         "rng": rng, "history": history})  # fmt: skip
        if log is not None:
            write_json(log, {"run": run, "step": step, "device": describe_device(dev), "versions": versions(),
                             "history": history})  # fmt: skip
        return True

    from tqdm.auto import tqdm

    samples = range(start * batch_size, steps * batch_size)
    # A generator of its own: creating the loader's iterator would otherwise draw from the global random state, which
    # the model's dropout and drop-path use and the checkpoint restores.
    loader = torch.utils.data.DataLoader(_StepSamples(dataset, seed), batch_size=batch_size, sampler=samples,
                                         num_workers=num_workers, pin_memory=dev.type == "cuda",
                                         generator=torch.Generator().manual_seed(seed))  # fmt: skip
    model.train()
    step, rng, clean, saved = start, _rng_state(), True, None
    began = last_save = time.perf_counter()
    timed = 0
    bar = tqdm(total=steps, initial=start, desc=f"train ({run.get('mixer', 'segformer')})", disable=not progress,
               leave=False)  # fmt: skip
    try:
        with _DeferInterrupt() as interrupt:
            for images, masks in loader:
                rng = _rng_state()  # the state at this step boundary: what a resume must start from
                images, masks = images.to(dev, non_blocking=True), masks.to(dev, non_blocking=True)
                with autocast(dev):
                    logits = model(normalize(images)).logits
                loss = segmentation_loss(logits, masks)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise FloatingPointError(f"loss is {value} at step {step}; lower lr (got {lr})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                clean = False  # between the first parameter update and the schedule step the state is mixed
                optimizer.step()
                scheduler.step()
                step, clean, rng = step + 1, True, _rng_state()
                history["step"].append(step - 1)
                history["loss"].append(value)
                history["lr"].append(optimizer.param_groups[0]["lr"])
                timed += 1
                bar.update(1)
                bar.set_postfix(loss=f"{value:.4f}")
                if on_step is not None:
                    on_step(step - 1, value)
                out_of_time = max_seconds is not None and time.perf_counter() - began > max_seconds
                if interrupt.requested or out_of_time or (step % checkpoint_every == 0 and step < steps):
                    add_step_time(history, timed, time.perf_counter() - last_save)
                    timed, last_save = 0, time.perf_counter()
                    saved = step
                    if not save(step, rng):
                        raise FloatingPointError(f"the model or optimizer is not finite after step {step}; "
                                                 f"nothing saved (lower lr, got {lr})")  # fmt: skip
                if interrupt.requested or out_of_time:
                    break
    finally:
        bar.close()
        add_step_time(history, timed, time.perf_counter() - last_save)
        history["completed"] = step >= steps
        if clean and saved != step and not save(step, rng):
            warnings.warn(f"the state after step {step} is not finite: the checkpoint keeps the last finite one",
                          RuntimeWarning, stacklevel=2)  # fmt: skip
    model.eval()
    if interrupt.requested:
        raise KeyboardInterrupt(f"stopped after step {step}; the checkpoint resumes from there")
    return history


def _window_starts(size: int, crop: int, stride: int) -> list[int]:
    if size <= crop:
        return [0]
    starts = list(range(0, size - crop, stride)) + [size - crop]
    return sorted(set(starts))


@torch.no_grad()
def sliding_window_logits(
    model: nn.Module, images: torch.Tensor, crop: int | tuple[int, int] = 1024, stride: int | tuple[int, int] = 768
) -> torch.Tensor:
    """Class scores of full frames from overlapping ``crop`` windows ``stride`` apart (SegFormer's test mode).

    Each window's logits are upsampled to the window and averaged where windows overlap; an image smaller than
    the crop is padded for the forward and cropped back.

    Args:
        images: ``(B, 3, H, W)`` in [0, 1], on the model's device.

    Returns:
        ``(B, num_labels, H, W)`` float32.
    """
    ch, cw = check_pair(crop, "crop")
    sh, sw = check_pair(stride, "stride")
    if sh > ch or sw > cw:
        raise ValueError(f"stride: expected at most the crop {(ch, cw)} (windows must cover the frame), got {(sh, sw)}")
    batch, _, height, width = images.shape
    total = counts = None
    inputs = normalize(images)
    for top in _window_starts(height, ch, sh):
        for left in _window_starts(width, cw, sw):
            window = inputs[:, :, top : top + ch, left : left + cw]
            wh, ww = window.shape[-2:]
            padded = F.pad(window, (0, cw - ww, 0, ch - wh)) if (wh, ww) != (ch, cw) else window
            with autocast(images.device):
                logits = model(padded).logits
            logits = F.interpolate(logits.float(), size=(ch, cw), mode="bilinear", align_corners=False)[..., :wh, :ww]
            if total is None:
                total = images.new_zeros((batch, logits.shape[1], height, width), dtype=torch.float32)
                counts = images.new_zeros((1, 1, height, width), dtype=torch.float32)
            total[:, :, top : top + wh, left : left + ww] += logits
            counts[:, :, top : top + wh, left : left + ww] += 1
    return total / counts


@torch.no_grad()
def evaluate_segformer(
    model: nn.Module,
    dataset,
    *,
    crop: int | tuple[int, int] = 1024,
    stride: int | tuple[int, int] = 768,
    device: str | torch.device | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> dict:
    """Per-class IoU, mIoU and pixel accuracy of ``model`` on the full frames of ``dataset`` (sliding window).

    Args:
        dataset: ``len``, ``load(i)`` and ``class_names`` (:class:`~afno_tutorial.data.Cityscapes`).
        limit: evaluate the first ``limit`` frames only.

    Returns:
        ``{"miou", "per_class_iou": {name: IoU or NaN}, "pixel_accuracy", "frames"}``; IoU of a class absent from
        both truth and prediction is NaN and left out of the mean.
    """
    from tqdm.auto import tqdm

    dev = pick_device(device)
    model.to(dev)
    was_training = model.training
    model.eval()
    names = list(dataset.class_names)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    conf = torch.zeros(len(names), len(names), dtype=torch.long)
    for index in tqdm(range(count), desc="evaluate", disable=not progress, leave=False):
        image, mask = dataset.load(index)
        pred = sliding_window_logits(model, image[None].to(dev), crop, stride).argmax(1)[0].cpu()
        conf += confusion_matrix(pred, mask, len(names))
    model.train(was_training)
    iou = iou_from_confusion(conf)
    return {
        "miou": float(torch.nanmean(iou)),
        "per_class_iou": dict(zip(names, iou.tolist())),
        "pixel_accuracy": float(conf.diag().sum() / conf.sum().clamp_min(1)),
        "frames": count,
    }


__all__ = [
    "CHECKPOINT_KIND",
    "evaluate_segformer",
    "parameter_groups",
    "poly_schedule",
    "segmentation_loss",
    "sliding_window_logits",
    "train_segformer",
    "write_json",
]
