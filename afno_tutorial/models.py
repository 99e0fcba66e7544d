"""Vision transformer pieces around a token mixer: patch embedding, blocks, a backbone and two task heads.

Images are channels first ``(B, C, H, W)``; token grids are channels last ``(B, h, w, D)`` with ``h = H / p``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_float, check_images, check_pair, check_positive_int, check_tokens
from .masking import masked_mse
from .mixers import build_mixer


class PatchEmbed(nn.Module):
    """Non-overlapping ``p x p`` patches to tokens: ``images (B, C, H, W) -> (B, H/p, W/p, dim)``."""

    def __init__(self, in_chans: int = 3, patch_size: int = 4, dim: int = 64) -> None:
        super().__init__()
        self.in_chans = check_positive_int(in_chans, "in_chans")
        self.patch_size = check_positive_int(patch_size, "patch_size")
        self.dim = check_positive_int(dim, "dim")
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, self.in_chans, self.patch_size)
        return self.proj(images).permute(0, 2, 3, 1)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability ``p`` while training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        check_float(p, "drop_path", low=0.0, high=1.0, high_open=True)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)


class Block(nn.Module):
    """Pre-norm transformer block on a token grid ``x: (B, h, w, dim)``.

    ``x = x + mixer(norm(x))`` then ``x = x + mlp(norm(x))``.

    Args:
        dim: channels.
        mixer: a module mapping ``(B, h, w, dim)`` to itself, or a registry name for :func:`build_mixer`.
        mlp_ratio: hidden width of the channel MLP relative to ``dim``.
        drop_path: stochastic-depth probability of both branches.
        mixer_kwargs: passed to :func:`build_mixer` when ``mixer`` is a name.
        grid_size: token grid, passed to :func:`build_mixer` when ``mixer`` is a name.
    """

    def __init__(
        self,
        dim: int,
        mixer: nn.Module | str = "afno",
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        mixer_kwargs: dict | None = None,
        grid_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        check_positive_int(dim, "dim")
        check_float(mlp_ratio, "mlp_ratio", low=0.0, low_open=True)
        if int(dim * mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio: expected dim * mlp_ratio >= 1 (a hidden layer), got {dim} * {mlp_ratio}")
        self.dim = dim
        if isinstance(mixer, str):
            mixer = build_mixer(mixer, dim, grid_size=grid_size, **(mixer_kwargs or {}))
        elif not isinstance(mixer, nn.Module):
            raise TypeError(f"mixer: expected an nn.Module or a mixer name, got {type(mixer).__name__}")
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = mixer
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tokens(x, self.dim)
        x = x + self.drop_path(self.mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VisionBackbone(nn.Module):
    """Patch embedding, learned position embedding, ``depth`` blocks with one mixer type, final norm.

    ``images (B, in_chans, H, W) -> tokens (B, H/p, W/p, dim)``. Built for ``img_size``; at other sizes (any
    multiple of ``patch_size``) the position embedding is interpolated bicubically.

    Args:
        in_chans: image channels.
        patch_size: ``p``.
        dim: token channels.
        depth: number of blocks.
        mixer: registry name (``"afno"``, ``"fno"``, ``"gfn"``, ``"attention"``) used in every block.
        mixer_kwargs: constructor arguments of the mixer.
        img_size: the image size ``(H, W)`` (or an int) the model is built for.
        mlp_ratio, drop_path: of each :class:`Block` (``drop_path`` grows linearly to this value with depth).
    """

    def __init__(
        self,
        in_chans: int = 3,
        patch_size: int = 4,
        dim: int = 64,
        depth: int = 4,
        mixer: str = "afno",
        mixer_kwargs: dict | None = None,
        img_size: int | tuple[int, int] = 64,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive_int(in_chans, "in_chans")
        check_positive_int(patch_size, "patch_size")
        check_positive_int(dim, "dim")
        check_positive_int(depth, "depth")
        img_size = check_pair(img_size, "img_size")
        if img_size[0] % patch_size or img_size[1] % patch_size:
            raise ValueError(f"img_size: expected multiples of patch_size={patch_size}, got {tuple(img_size)}")
        self.img_size = tuple(img_size)
        self.patch_size = patch_size
        self.dim = dim
        self.mixer_name = mixer
        self.grid_size = (img_size[0] // patch_size, img_size[1] // patch_size)
        self.patch_embed = PatchEmbed(in_chans, patch_size, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, *self.grid_size, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        rates = [drop_path * i / max(1, depth - 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(dim, mixer, mlp_ratio, rate, mixer_kwargs, grid_size=self.grid_size) for rate in rates
        )
        self.norm = nn.LayerNorm(dim)

    def position_embedding(self, height: int, width: int) -> torch.Tensor:
        """``(1, h, w, dim)`` position embedding for an ``h x w`` token grid."""
        if (height, width) == self.grid_size:
            return self.pos_embed
        pos = self.pos_embed.permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=(height, width), mode="bicubic", align_corners=False)
        return pos.permute(0, 2, 3, 1)

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Blocks on embedded patches ``tokens: (B, h, w, dim)`` (position embedding added here)."""
        check_tokens(tokens, self.dim, "tokens")
        x = tokens + self.position_embedding(*tokens.shape[1:3])
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_tokens(self.patch_embed(images))


class SegmentationModel(nn.Module):
    """Per-pixel class logits: a linear head on the backbone's tokens, upsampled bilinearly to the input size.

    ``images (B, C, H, W) -> logits (B, num_classes, H, W)``.
    """

    def __init__(self, backbone: VisionBackbone, num_classes: int) -> None:
        super().__init__()
        if not isinstance(backbone, VisionBackbone):
            raise TypeError(f"backbone: expected a VisionBackbone, got {type(backbone).__name__}")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.backbone = backbone
        self.head = nn.Linear(backbone.dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.backbone(images)
        logits = self.head(tokens).permute(0, 3, 1, 2)
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)


class InpaintingModel(nn.Module):
    """Masked-patch inpainting: masked patches' tokens are replaced by a learned mask token, pixels are predicted.

    ``images (B, C, H, W)``, ``patch_mask (B, H/p, W/p)`` bool (True = hidden) ``-> (B, C, H, W)`` reconstruction
    of every pixel (train on the hidden ones, see :func:`afno_tutorial.masking.masked_mse`).
    """

    def __init__(self, backbone: VisionBackbone) -> None:
        super().__init__()
        if not isinstance(backbone, VisionBackbone):
            raise TypeError(f"backbone: expected a VisionBackbone, got {type(backbone).__name__}")
        self.backbone = backbone
        p = backbone.patch_size
        self.in_chans = backbone.patch_embed.in_chans
        self.mask_token = nn.Parameter(torch.zeros(backbone.dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.head = nn.Linear(backbone.dim, self.in_chans * p * p)

    def hide_patches(self, tokens: torch.Tensor, patch_mask: torch.Tensor | None) -> torch.Tensor:
        """``tokens (B, h, w, D)`` with those where ``patch_mask (B, h, w)`` (bool) is True replaced by the mask
        token; ``tokens`` itself when ``patch_mask`` is ``None``."""
        if patch_mask is None:
            return tokens
        if patch_mask.shape != tokens.shape[:3] or patch_mask.dtype != torch.bool:
            raise ValueError(
                f"patch_mask: expected a bool tensor of shape {tuple(tokens.shape[:3])}, "
                f"got {patch_mask.dtype} {tuple(patch_mask.shape)}"
            )
        return torch.where(patch_mask[..., None], self.mask_token.to(tokens.dtype), tokens)

    def forward(self, images: torch.Tensor, patch_mask: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.hide_patches(self.backbone.patch_embed(images), patch_mask)
        feats = self.backbone.forward_tokens(tokens)
        patches = self.head(feats).permute(0, 3, 1, 2)  # (B, C*p*p, h, w)
        return F.pixel_shuffle(patches, self.backbone.patch_size)

    def masked_loss(self, images: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        """The pretraining loss: mean squared error on the pixels of the hidden patches (``patch_mask`` True)."""
        return masked_mse(self(images, patch_mask).float(), images, patch_mask)
