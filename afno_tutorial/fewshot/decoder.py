"""Masked pretraining with a light decoder: what makes a backbone's features worth a few labels.

:class:`MaskedAutoencoder` hides most patches (a learned mask token replaces their embedding, since a Fourier
mixer needs the full grid), runs the backbone, then a *light decoder* (one narrow block of the same mixer) that
predicts, at the hidden patches only,

* the pixels of the hidden patches (squared error, divided by the batch's pixel variance), and
* the texture energy of every patch (:func:`~afno_tutorial.fewshot.targets.texture_energy`, standardised per
  channel): of the patch itself and averaged over its 3x3 and 5x5 patch neighbourhoods (:data:`POOLS`), hidden
  patches weighted 1, visible ones ``visible_weight``.

Three choices push the backbone towards texture and context rather than copying pixels: a high mask ratio (three
patches in four hidden: the neighbours of a hidden patch are mostly hidden too, so the answer has to come from
further away), a separate decoder (the last backbone block need not be a pixel map), and a target a stochastic
texture does determine (its energy per scale and orientation, which the context fixes, unlike its pixels; the
neighbourhood averages can only be given by mixing tokens). Only the backbone is kept afterwards. The shipped
recipe (:data:`afno_tutorial.fewshot.pretrain.RECIPE`) hides nothing (``mask_ratio=0``): then there is no pixel
term, and every patch's texture statistics, alone and over its neighbourhoods, are the whole target.

The encoder sees standardised pixels (``(x - INPUT_MEAN) / INPUT_STD``): on raw pixels in [0, 1] a fine texture's
few hundredths of contrast are lost beside the brightness, and training sits on a plateau for hundreds of steps
before the backbone finds it. :func:`fold_input_normalisation` moves that affine map into the patch embedding, so
the backbone that is kept takes raw pixels like every other backbone of the package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_float, check_positive_int
from ..masking import masked_mse
from ..models import Block, InpaintingModel, VisionBackbone
from .targets import filter_bank, standardise, texture_energy

INPUT_MEAN, INPUT_STD = 0.45, 0.15  # about the mean and standard deviation of the procedural images' pixels


def normalise_input(images: torch.Tensor) -> torch.Tensor:
    """``(images - INPUT_MEAN) / INPUT_STD``: what the encoder sees during pretraining."""
    return (images - INPUT_MEAN) / INPUT_STD


@torch.no_grad()
def fold_input_normalisation(backbone: VisionBackbone) -> VisionBackbone:
    """Fold :func:`normalise_input` into ``backbone``'s patch embedding, in place: afterwards
    ``backbone(images)`` equals the former ``backbone(normalise_input(images))``. Returns ``backbone``."""
    proj = backbone.patch_embed.proj
    proj.bias -= proj.weight.sum((1, 2, 3)) * (INPUT_MEAN / INPUT_STD)
    proj.weight /= INPUT_STD
    return backbone


POOLS = (1, 3, 5)  # texture energy of the patch itself and averaged over its 3x3 and 5x5 patch neighbourhoods


class MaskedAutoencoder(InpaintingModel):
    """Backbone + light decoder; ``images (B, C, H, W)``, ``patch_mask (B, h, w)`` bool -> pixels ``(B, C, H, W)``.

    :meth:`predict` returns the pixels and the texture energy ``(B, h, w, F)``; :meth:`masked_loss` is the
    training loss (what :func:`afno_tutorial.train.pretrain_inpainting` minimises).

    Args:
        backbone: the encoder (kept after pretraining).
        decoder_dim: width of the decoder block (a multiple of the mixer's blocks/heads, 8 by default).
        decoder_depth: number of decoder blocks (0: a linear map from the backbone's tokens).
        pixel_weight, texture_weight: weights of the two losses.
        mixer_kwargs: constructor arguments of the decoder's mixer (as the backbone's).
        pools: neighbourhood sizes (in patches) over which the texture energy target is averaged.
        visible_weight: weight of the texture loss on visible patches (hidden ones weigh 1).
    """

    def __init__(
        self,
        backbone: VisionBackbone,
        decoder_dim: int = 32,
        decoder_depth: int = 1,
        pixel_weight: float = 1.0,
        texture_weight: float = 1.0,
        mixer_kwargs: dict | None = None,
        pools: tuple[int, ...] = POOLS,
        visible_weight: float = 1.0,
    ) -> None:
        super().__init__(backbone)
        check_positive_int(decoder_dim, "decoder_dim")
        if not isinstance(decoder_depth, int) or decoder_depth < 0:
            raise ValueError(f"decoder_depth: expected a non-negative int, got {decoder_depth!r}")
        if not pools or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0 for k in pools):
            raise ValueError(f"pools: expected odd neighbourhood sizes >= 1 (in patches), got {pools!r}")
        self.pools = tuple(pools)
        self.visible_weight = check_float(visible_weight, "visible_weight", low=0.0)
        self.pixel_weight = check_float(pixel_weight, "pixel_weight", low=0.0)
        self.texture_weight = check_float(texture_weight, "texture_weight", low=0.0)
        if self.pixel_weight == 0 and self.texture_weight == 0:
            raise ValueError("pixel_weight, texture_weight: expected at least one positive weight, got both 0")
        width = decoder_dim if decoder_depth else backbone.dim
        self.decoder_embed = nn.Linear(backbone.dim, width) if decoder_depth else nn.Identity()
        self.decoder_blocks = nn.ModuleList(
            Block(width, backbone.mixer_name, mixer_kwargs=mixer_kwargs, grid_size=backbone.grid_size)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(width) if decoder_depth else nn.Identity()
        p = backbone.patch_size
        self.head = nn.Linear(width, self.in_chans * p * p)  # pixels of each patch
        self.bank_size = backbone.img_size
        self.register_buffer("bank", filter_bank(backbone.img_size), persistent=False)
        self.texture_head = nn.Linear(width, self.bank.shape[0] * len(self.pools))

    def _bank(self, height: int, width: int) -> torch.Tensor:
        if (height, width) == tuple(self.bank.shape[-2:]):
            return self.bank
        return filter_bank((height, width)).to(self.bank.device)

    def predict(self, images: torch.Tensor,
                patch_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pixels (B, C, H, W), texture energy (B, h, w, F))`` predicted for every patch (the encoder sees
        :func:`normalise_input` of ``images``; pixels are predicted in the images' own units)."""
        tokens = self.hide_patches(self.backbone.patch_embed(normalise_input(images)), patch_mask)
        x = self.decoder_embed(self.backbone.forward_tokens(tokens))
        for block in self.decoder_blocks:
            x = block(x)
        x = self.decoder_norm(x)
        pixels = F.pixel_shuffle(self.head(x).permute(0, 3, 1, 2), self.backbone.patch_size)
        return pixels, self.texture_head(x)

    def forward(self, images: torch.Tensor, patch_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.predict(images, patch_mask)[0]

    def masked_loss(self, images: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        """Pixel error of the hidden patches / pixel variance + texture-energy error of the hidden patches +
        ``visible_weight`` x that of the visible ones (each a mean over its patches)."""
        pixels, energy = self.predict(images, patch_mask)
        loss = images.new_zeros((), dtype=torch.float32)
        if self.pixel_weight:
            variance = images.float().var().detach().clamp_min(1e-6)
            loss = loss + self.pixel_weight * masked_mse(pixels.float(), images.float(), patch_mask) / variance
        if self.texture_weight:
            with torch.no_grad():
                target = standardise(texture_energy(images, self.backbone.patch_size, self._bank(*images.shape[-2:]),
                                                    self.pools))
            err = (energy.float() - target).pow(2).mean(-1)  # (B, h, w)
            hidden = (err * patch_mask).sum() / patch_mask.sum().clamp_min(1)
            visible = (err * ~patch_mask).sum() / (~patch_mask).sum().clamp_min(1)
            loss = loss + self.texture_weight * (hidden + self.visible_weight * visible)
        return loss


@torch.no_grad()
def evaluate_masked(model: MaskedAutoencoder, images: torch.Tensor, *, mask_ratio: float = 0.75, seed: int = 0,
                    batch_size: int = 32) -> float:
    """Mean :meth:`~MaskedAutoencoder.masked_loss` over ``images`` with fixed random masks (seeded)."""
    from ..masking import random_patch_mask

    check_positive_int(batch_size, "batch_size")
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for i in range(0, images.shape[0], batch_size):
        batch = images[i : i + batch_size].to(dev)
        mask = random_patch_mask(batch.shape[0], model.backbone.grid_size, mask_ratio, generator=gen).to(dev)
        total += float(model.masked_loss(batch, mask)) * batch.shape[0]
        count += batch.shape[0]
    model.train(was_training)
    return total / count
