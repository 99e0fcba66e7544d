"""A small pixel classifier on multi-block features, trained from K labelled images (frozen backbone or not).

:class:`PixelHead`: per-pixel MLP ``standardise -> Linear(F, hidden) -> GELU -> Linear(hidden, classes)`` on the
features of :mod:`~afno_tutorial.fewshot.features` upsampled to pixels. The first layer is linear, so it is applied
on the token grid and its ``hidden`` channels are upsampled (bilinear) instead of the ``F`` input channels: the
same numbers, ``F / hidden`` times less memory (what lets one 1024x1024 image through in one pass).

:class:`FewShotSegmenter`: backbone + blocks to read + head, ``images (B, C, H, W) -> logits (B, classes, H, W)``.
:func:`fit_frozen` trains the head on the frozen backbone's features of the K images and their 8 flips and
rotations (computed once); :func:`fit_finetune` trains everything on randomly flipped/rotated batches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_positive_int
from ..models import VisionBackbone
from ..train import autocast, cosine_schedule, dihedral
from .features import block_tokens, check_blocks, extract_features


class PixelHead(nn.Module):
    """``features (B, h, w, F)``, ``size (H, W)`` -> logits ``(B, num_classes, H, W)``.

    ``mean``/``std`` (buffers, set by :meth:`set_standardisation` from the support features) standardise each
    input channel; the hidden pre-activations are upsampled bilinearly from ``(h, w)`` to ``size``.
    :meth:`classify` is the same classifier on feature vectors already at pixels ``(..., F) -> (..., classes)``.
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 64) -> None:
        super().__init__()
        check_positive_int(in_dim, "in_dim")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        check_positive_int(hidden, "hidden")
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    @torch.no_grad()
    def set_standardisation(self, features: torch.Tensor) -> None:
        """Per-channel mean and standard deviation of ``features (..., F)``."""
        flat = features.reshape(-1, features.shape[-1]).float()
        self.mean.copy_(flat.mean(0))
        self.std.copy_(flat.std(0).clamp_min(1e-6))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """``(..., F) -> (..., num_classes)``: the classifier on feature vectors at pixels."""
        return self.fc2(F.gelu(self.fc1((features - self.mean) / self.std)))

    def forward(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h = self.fc1((features - self.mean) / self.std).permute(0, 3, 1, 2)  # (B, hidden, h, w)
        h = F.interpolate(h, size=tuple(size), mode="bilinear", align_corners=False)
        return self.fc2(F.gelu(h.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)


def features_at_pixels(features: torch.Tensor, masks: torch.Tensor, per_image: int,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_image`` random pixels of each image: their upsampled features ``(N * per_image, F)`` and labels.

    ``features (N, h, w, F)`` are upsampled bilinearly to the masks' size ``(N, H, W)`` one image at a time.
    """
    size = masks.shape[-2:]
    rows, labels = [], []
    for i in range(features.shape[0]):
        up = F.interpolate(features[i : i + 1].permute(0, 3, 1, 2), size=size, mode="bilinear", align_corners=False)
        pick = torch.randperm(size[0] * size[1], generator=generator)[:per_image].to(features.device)
        rows.append(up.flatten(2)[0, :, pick].T)
        labels.append(masks[i].reshape(-1)[pick])
    return torch.cat(rows), torch.cat(labels)


class FewShotSegmenter(nn.Module):
    """``images (B, C, H, W) -> logits (B, num_classes, H, W)`` from the tokens of ``blocks`` of ``backbone``."""

    def __init__(self, backbone: VisionBackbone, num_classes: int, blocks: tuple[int, ...] | None = None,
                 hidden: int = 64) -> None:
        super().__init__()
        if not isinstance(backbone, VisionBackbone):
            raise TypeError(f"backbone: expected a VisionBackbone, got {type(backbone).__name__}")
        self.backbone = backbone
        self.blocks = check_blocks(blocks, len(backbone.blocks))
        self.head = PixelHead(backbone.dim * len(self.blocks), num_classes, hidden)
        self.num_classes = self.head.num_classes

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return block_tokens(self.backbone, images, self.blocks)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images), images.shape[-2:])


def _check_support(model: FewShotSegmenter, images: torch.Tensor, masks: torch.Tensor) -> None:
    if not isinstance(model, FewShotSegmenter):
        raise TypeError(f"model: expected a FewShotSegmenter, got {type(model).__name__}")
    if images.ndim != 4 or masks.shape != (images.shape[0],) + images.shape[-2:] or masks.dtype != torch.long:
        raise ValueError(f"masks: expected int64 (N, H, W) matching images {tuple(images.shape)}, "
                         f"got {masks.dtype} {tuple(masks.shape)}")
    if int(masks.min()) < 0 or int(masks.max()) >= model.num_classes:
        raise ValueError(f"masks: expected labels in 0..{model.num_classes - 1}, "
                         f"got {int(masks.min())}..{int(masks.max())}")


def _views(images: torch.Tensor) -> range | tuple[int, ...]:
    return range(8) if images.shape[-2] == images.shape[-1] else (0, 2, 4, 6)


def _optimise(params: list, loss_at, steps: int, lr: float, weight_decay: float) -> list[float]:
    """AdamW with a short warm-up and cosine decay; returns the loss of every step."""
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warmup = max(1, min(50, steps // 20))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_schedule(s, steps, warmup))
    losses = []
    for step in range(steps):
        loss = loss_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss is {value} at step {step}; lower lr (got {lr})")
        losses.append(value)
    return losses


def fit_frozen(model: FewShotSegmenter, images: torch.Tensor, masks: torch.Tensor, *, steps: int = 300,
               batch_size: int = 2048, per_image: int = 1024, lr: float = 3e-3, weight_decay: float = 1e-2,
               seed: int = 0, device: str | torch.device | None = None) -> list[float]:
    """Train the head on the frozen backbone's features of ``images`` and their flips/rotations.

    The features of the ``8K`` views are computed once, upsampled to pixels and ``per_image`` random pixels of each
    view kept; each step draws ``batch_size`` of those pixels (generator seeded by ``seed``). Sets the head's
    standardisation from the views' features. Returns the loss per step.
    """
    _check_support(model, images, masks)
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(per_image, "per_image")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(dev)
    views = _views(images)
    aug_images = torch.cat([dihedral(images, k) for k in views])
    aug_masks = torch.cat([dihedral(masks, k) for k in views]).to(dev)
    with autocast(dev):
        feats = extract_features(model.backbone, aug_images, model.blocks, device=dev).float()
    model.head.set_standardisation(feats)
    gen = torch.Generator().manual_seed(seed)
    x, y = features_at_pixels(feats, aug_masks, min(per_image, aug_masks[0].numel()), gen)
    del feats
    model.head.train()

    def loss_at(step: int) -> torch.Tensor:
        idx = torch.randint(x.shape[0], (min(batch_size, x.shape[0]),), generator=gen).to(dev)
        return F.cross_entropy(model.head.classify(x[idx]).float(), y[idx])

    losses = _optimise(list(model.head.parameters()), loss_at, steps, lr, weight_decay)
    model.eval()
    return losses


def fit_finetune(model: FewShotSegmenter, images: torch.Tensor, masks: torch.Tensor, *, steps: int = 300,
                 batch_size: int = 8, lr: float = 3e-3, backbone_lr: float = 3e-4, weight_decay: float = 1e-2,
                 seed: int = 0, device: str | torch.device | None = None) -> list[float]:
    """Train backbone and head together on randomly flipped/rotated batches of the K images.

    The head's standardisation is set once from the starting backbone's features; the backbone learns at
    ``backbone_lr``, the head at ``lr``. Returns the loss per step.
    """
    _check_support(model, images, masks)
    check_positive_int(steps, "steps")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(dev)
    with autocast(dev):
        model.head.set_standardisation(extract_features(model.backbone, images, model.blocks, device=dev).float())
    data, labels = images.to(dev), masks.to(dev)
    gen = torch.Generator().manual_seed(seed)
    views = _views(images)
    model.train()

    def loss_at(step: int) -> torch.Tensor:
        idx = torch.randint(data.shape[0], (min(batch_size, data.shape[0]),), generator=gen).to(dev)
        k = views[int(torch.randint(len(views), (1,), generator=gen))]
        with autocast(dev):
            logits = model(dihedral(data[idx], k))
        return F.cross_entropy(logits.float(), dihedral(labels[idx], k))

    params = [{"params": model.backbone.parameters(), "lr": backbone_lr}, {"params": model.head.parameters()}]
    losses = _optimise(params, loss_at, steps, lr, weight_decay)
    model.eval()
    return losses


@torch.no_grad()
def predict(model: FewShotSegmenter, images: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """``images (N, C, H, W) -> (N, H, W)`` int64 predicted classes (on the model's device, returned on the CPU)."""
    dev = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        with autocast(dev):
            out.append(model(images[i : i + batch_size].to(dev)).argmax(1).cpu())
    return torch.cat(out)
