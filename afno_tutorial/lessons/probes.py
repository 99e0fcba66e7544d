"""Looking inside a model: the token features each block's mixer receives, and a mixer's "mixing part"."""

from __future__ import annotations

import torch
from torch import nn

from ..mixers import AFNO2d
from ..models import InpaintingModel, VisionBackbone


def mixing_part(mixer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What a mixer adds to its input: ``mixer(x)``, or ``mixer(x) - x`` for an AFNO built with ``inner_skip=True``
    (the reference's skip inside the mixer, as in backbones trained that way).

    ``x: (B, H, W, C) -> (B, H, W, C)``. Comparing mixers on this part keeps such a skip from hiding the spatial
    mixing behind an identity.
    """
    y = mixer(x)
    return y - x if isinstance(mixer, AFNO2d) and mixer.inner_skip else y


def capture_mixer_inputs(
    model: InpaintingModel | VisionBackbone, images: torch.Tensor, patch_mask: torch.Tensor | None = None
) -> list[torch.Tensor]:
    """The ``(B, h, w, C)`` tokens entering the mixer of every block, for ``images: (B, C, H, W)``.

    Runs one forward pass without gradients with hooks on each block's mixer (``patch_mask`` as in
    :class:`InpaintingModel`, ignored for a bare backbone). Returns one tensor per block, in order.
    """
    backbone = model.backbone if isinstance(model, InpaintingModel) else model
    if not isinstance(backbone, VisionBackbone):
        raise TypeError(f"model: expected an InpaintingModel or VisionBackbone, got {type(model).__name__}")
    captured: list[torch.Tensor] = []
    hooks = [block.mixer.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach().clone()))
             for block in backbone.blocks]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if isinstance(model, InpaintingModel):
                model(images, patch_mask)
            else:
                model(images)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return captured
