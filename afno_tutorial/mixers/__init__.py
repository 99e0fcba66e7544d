"""Token mixers, all ``nn.Module``s mapping ``x: (B, H, W, C) -> (B, H, W, C)``, and a registry to build them by name."""

from __future__ import annotations

from typing import Callable

from torch import nn

from .afno import AFNO2d
from .attention import SelfAttention2d
from .fno import SpectralConv2d
from .gfn import GlobalFilter2d

MixerFactory = Callable[..., nn.Module]
_REGISTRY: dict[str, MixerFactory] = {}


def register_mixer(name: str) -> Callable[[MixerFactory], MixerFactory]:
    """Decorator registering ``factory(dim, *, grid_size=None, **kwargs) -> nn.Module`` under ``name``.

    ``grid_size`` is the token grid ``(h, w)`` the caller builds for (a mixer that needs a size, like the
    global filter, takes its default from it; others ignore it).
    """

    def decorate(factory: MixerFactory) -> MixerFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def available_mixers() -> list[str]:
    """Names accepted by :func:`build_mixer`."""
    return sorted(_REGISTRY)


def build_mixer(name: str, dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    """Build a registered mixer: ``"afno"``, ``"fno"``, ``"gfn"``, ``"attention"`` (or any registered one).

    Args:
        name: registry name.
        dim: channels.
        grid_size: the token grid ``(h, w)`` the mixer will mostly see; used for defaults that depend on it
            (the global filter's size, FNO's modes capped to what the grid holds).
        **kwargs: passed to the mixer's constructor.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a mixer name (str), one of {available_mixers()}, got {type(name).__name__} {name!r}")
    if name not in _REGISTRY:
        raise ValueError(f"name: expected one of {available_mixers()}, got {name!r}")
    return _REGISTRY[name](dim, grid_size=grid_size, **kwargs)


@register_mixer("afno")
def _afno(dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    return AFNO2d(dim, **kwargs)


@register_mixer("fno")
def _fno(dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    if "modes" not in kwargs and grid_size is not None:
        # Default 8x8 modes, fewer where the grid cannot hold them (distinct +/- k_y rows, W//2+1 columns).
        kwargs["modes"] = (min(8, (grid_size[0] + 1) // 2), min(8, grid_size[1] // 2 + 1))
    return SpectralConv2d(dim, **kwargs)


@register_mixer("gfn")
def _gfn(dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    if "size" not in kwargs and grid_size is not None:
        kwargs["size"] = tuple(grid_size)
    return GlobalFilter2d(dim, **kwargs)


@register_mixer("attention")
def _attention(dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    return SelfAttention2d(dim, **kwargs)


__all__ = [
    "AFNO2d",
    "GlobalFilter2d",
    "SelfAttention2d",
    "SpectralConv2d",
    "available_mixers",
    "build_mixer",
    "register_mixer",
]
