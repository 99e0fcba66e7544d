"""Features for few-shot segmentation: the token grids of several backbone blocks, side by side.

Label-efficient segmentation from self-supervised or generative features (DatasetGAN; segmentation from the
activations of a diffusion model) does not read the last layer alone: early blocks keep where edges are, late
blocks know what surrounds a patch, and a small pixel classifier uses both. :func:`block_tokens` returns the
residual stream after the chosen blocks, concatenated on the channel axis.
"""

from __future__ import annotations

import torch

from ..models import VisionBackbone


def check_blocks(blocks: tuple[int, ...] | list[int] | None, depth: int) -> tuple[int, ...]:
    """The block indices to read, ``0 .. depth`` (0: the embedded patches with their position; ``i``: after block
    ``i``); ``None`` means all of them."""
    if blocks is None:
        return tuple(range(depth + 1))
    blocks = tuple(blocks)
    if not blocks or any(not isinstance(b, int) or isinstance(b, bool) or not 0 <= b <= depth for b in blocks):
        raise ValueError(f"blocks: expected block indices in 0..{depth} (0 = patch embedding), got {blocks!r}")
    if len(set(blocks)) != len(blocks):
        raise ValueError(f"blocks: expected distinct indices, got {blocks!r}")
    return blocks


def block_tokens(backbone: VisionBackbone, images: torch.Tensor, blocks: tuple[int, ...]) -> torch.Tensor:
    """``images (B, C, H, W) -> (B, H/p, W/p, dim * len(blocks))``: the tokens after each of ``blocks``.

    The last block's tokens pass through the backbone's final norm when it is read (as the backbone returns them);
    the others are the raw residual stream. Differentiable (fine-tuning calls it with gradients on).
    """
    tokens = backbone.patch_embed(images)
    x = tokens + backbone.position_embedding(*tokens.shape[1:3])
    depth = len(backbone.blocks)
    out = [x] if 0 in blocks else []
    for i, block in enumerate(backbone.blocks, start=1):
        if i > max(blocks):
            break
        x = block(x)
        if i in blocks:
            out.append(backbone.norm(x) if i == depth else x)
    return torch.cat(out, dim=-1)


@torch.no_grad()
def extract_features(
    backbone: VisionBackbone,
    images: torch.Tensor,
    blocks: tuple[int, ...] | None = None,
    batch_size: int = 32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """:func:`block_tokens` of a frozen backbone over ``images`` in batches, float32, on ``device`` (default: the
    backbone's)."""
    blocks = check_blocks(blocks, len(backbone.blocks))
    dev = torch.device(device) if device is not None else next(backbone.parameters()).device
    was_training = backbone.training
    backbone.to(dev).eval()
    feats = [block_tokens(backbone, images[i : i + batch_size].to(dev), blocks).float()
             for i in range(0, images.shape[0], batch_size)]
    backbone.train(was_training)
    return torch.cat(feats)
