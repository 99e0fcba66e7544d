"""Token mixers, all ``nn.Module``s mapping ``x: (B, H, W, C) -> (B, H, W, C)``, and the registry that names them.

The four built-in mixers are registered here, each once, with its label, its colour in every plot and its FLOP
formula (:mod:`afno_tutorial.mixers.costs`); :mod:`afno_tutorial.mixers.registry` says how to add one.
"""

from __future__ import annotations

from torch import nn

from . import costs
from .afno import AFNO2d
from .attention import SelfAttention2d
from .fno import SpectralConv2d
from .gfn import GlobalFilter2d
from .registry import (
    FlopFormula,
    MixerFactory,
    MixerInfo,
    available_mixers,
    build_mixer,
    find_mixer,
    mixer_info,
    mixer_label,
    register_mixer,
    unregister_mixer,
)

# Registration order is the order of every default list (the benchmark's, pretraining's, the few-shot runs').


@register_mixer("afno", label="AFNO", color="tab:blue", flops=costs.afno_flops, module_type=AFNO2d)
def _afno(dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    return AFNO2d(dim, **kwargs)


@register_mixer("attention", label="self-attention", color="tab:red", flops=costs.attention_flops,
                module_type=SelfAttention2d)  # fmt: skip
def _attention(dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    return SelfAttention2d(dim, **kwargs)


@register_mixer("gfn", label="GFN", color="tab:green", flops=costs.gfn_flops, module_type=GlobalFilter2d)
def _gfn(dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    if "size" not in kwargs and grid_size is not None:
        kwargs["size"] = tuple(grid_size)
    return GlobalFilter2d(dim, **kwargs)


@register_mixer("fno", label="FNO", color="tab:orange", flops=costs.fno_flops, module_type=SpectralConv2d)
def _fno(dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    if "modes" not in kwargs and grid_size is not None:
        # Default 8x8 modes, fewer where the grid cannot hold them (distinct +/- k_y rows, W//2+1 columns).
        kwargs["modes"] = (min(8, (grid_size[0] + 1) // 2), min(8, grid_size[1] // 2 + 1))
    return SpectralConv2d(dim, **kwargs)


__all__ = [
    "AFNO2d",
    "FlopFormula",
    "GlobalFilter2d",
    "MixerFactory",
    "MixerInfo",
    "SelfAttention2d",
    "SpectralConv2d",
    "available_mixers",
    "build_mixer",
    "find_mixer",
    "mixer_info",
    "mixer_label",
    "register_mixer",
    "unregister_mixer",
]
