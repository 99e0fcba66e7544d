"""The mixer registry: one entry per mixer, the one place the rest of the package learns what mixers there are.

A mixer is registered once, with what other parts of the package need to know about it::

    @register_mixer("conv", label="depthwise conv", color="tab:brown")
    class DepthwiseConv2d(nn.Module):
        def __init__(self, dim, *, grid_size=None, kernel_size=3): ...

and from then on it is built by name (:func:`build_mixer`, ``VisionBackbone(mixer="conv")``), timed by the
benchmark's default run (:func:`afno_tutorial.bench.default_mixers`), offered by the pretraining and few-shot
command lines (``--mixer conv``), counted by :func:`afno_tutorial.flops.mixer_flops` (with its ``flops`` formula, or
by ``torch.utils.flop_counter`` without one) and drawn in its own colour by every plot
(:func:`afno_tutorial.viz.colours.mixer_colour`). None of those modules lists mixer names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

from torch import nn

MixerFactory = Callable[..., nn.Module]
#: ``flops(mixer, height, width) -> {"fft", "mixing", "pointwise", ...}``: forward FLOPs for one image (real
#: FLOPs, a multiply-add counts 2; the conventions of :mod:`afno_tutorial.flops`).
FlopFormula = Callable[[nn.Module, int, int], Mapping[str, float]]


@dataclass(frozen=True)
class MixerInfo:
    """What the package knows about one registered mixer.

    Attributes:
        name: the registry name (``build_mixer(name, dim)``, ``--mixer name``).
        factory: ``factory(dim, *, grid_size=None, **kwargs) -> nn.Module``; ``grid_size`` is the token grid
            ``(h, w)`` the caller builds for (a mixer whose defaults depend on it, like the global filter's size,
            uses it; others ignore it).
        label: the name shown to readers (tables, legends); the registry name when not given.
        color: its colour in every plot (a matplotlib colour); ``None``: one picked for it by
            :func:`afno_tutorial.viz.colours.mixer_colour`, distinct from every colour given here.
        flops: its FLOP formula (:data:`FlopFormula`); ``None``: :func:`afno_tutorial.flops.mixer_flops` counts its
            matrix products with ``torch.utils.flop_counter`` and says so.
        module_type: the class its factory builds (how a built module is traced back to its entry); the factory
            itself when a class is registered.
    """

    name: str
    factory: MixerFactory
    label: str
    color: str | None = None
    flops: FlopFormula | None = None
    module_type: type[nn.Module] | None = None


_REGISTRY: dict[str, MixerInfo] = {}  # in registration order


def register_mixer(name: str, factory: MixerFactory | None = None, *, label: str | None = None,
                   color: str | None = None, flops: FlopFormula | None = None,
                   module_type: type[nn.Module] | None = None):  # fmt: skip
    """Register a mixer under ``name``; with no ``factory``, a decorator of the factory (a function or a class).

    Args:
        name: a new registry name: letters, digits, ``_``, ``-`` and ``.`` (so that the benchmark's
            ``name:key=value`` specs and ``<name>.pt`` files work).
        factory: ``factory(dim, *, grid_size=None, **kwargs) -> nn.Module`` (a class with that constructor
            will do); the module maps ``(B, H, W, C) -> (B, H, W, C)`` and returns the mixed tokens only, no
            residual.
        label, color, flops, module_type: see :class:`MixerInfo`.

    Returns:
        the factory (as a decorator), else its :class:`MixerInfo`.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
        raise ValueError(f"name: expected letters, digits, '_', '-' and '.' (not first), got {name!r}")
    if name in _REGISTRY:
        raise ValueError(f"name: {name!r} is already registered; unregister_mixer({name!r}) first to replace it")
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label: expected a str, got {type(label).__name__}")
    if flops is not None and not callable(flops):
        raise TypeError(f"flops: expected a callable (mixer, height, width) -> dict, got {type(flops).__name__}")

    def add(factory: MixerFactory) -> MixerInfo:
        if not callable(factory):
            raise TypeError(f"factory: expected a callable returning an nn.Module, got {type(factory).__name__}")
        kind = module_type
        if kind is None and isinstance(factory, type) and issubclass(factory, nn.Module):
            kind = factory
        info = MixerInfo(name, factory, label or name, color, flops, kind)
        _REGISTRY[name] = info
        return info

    if factory is not None:
        return add(factory)

    def decorate(factory: MixerFactory) -> MixerFactory:
        add(factory)
        return factory

    return decorate


def unregister_mixer(name: str) -> MixerInfo:
    """Remove ``name`` from the registry (e.g. a mixer a test registered); returns its entry."""
    if name not in _REGISTRY:
        raise ValueError(f"name: expected one of {available_mixers()}, got {name!r}")
    return _REGISTRY.pop(name)


def available_mixers() -> list[str]:
    """Names accepted by :func:`build_mixer`, in registration order (the built-ins first)."""
    return list(_REGISTRY)


def mixer_info(name: str) -> MixerInfo:
    """The registry entry of ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str, got {type(name).__name__}")
    if name not in _REGISTRY:
        raise ValueError(f"name: expected one of {available_mixers()}, got {name!r}")
    return _REGISTRY[name]


def mixer_label(name: str) -> str:
    """The name readers see for a registered mixer (its registered ``label``); other names are returned as given."""
    return _REGISTRY[name].label if name in _REGISTRY else name


def find_mixer(module: nn.Module) -> MixerInfo | None:
    """The entry whose ``module_type`` built ``module`` (its exact class first, then a base class), or ``None``."""
    entries = [info for info in _REGISTRY.values() if info.module_type is not None]
    exact = next((info for info in entries if type(module) is info.module_type), None)
    return exact or next((info for info in entries if isinstance(module, info.module_type)), None)


def build_mixer(name: str, dim: int, *, grid_size: tuple[int, int] | None = None, **kwargs) -> nn.Module:
    """Build a registered mixer: ``"afno"``, ``"attention"``, ``"gfn"``, ``"fno"`` or any registered one.

    Args:
        name: registry name.
        dim: channels.
        grid_size: the token grid ``(h, w)`` the mixer will mostly see; used for defaults that depend on it
            (the global filter's size, FNO's modes capped to what the grid holds).
        **kwargs: passed to the mixer's constructor.
    """
    return mixer_info(name).factory(dim, grid_size=grid_size, **kwargs)


__all__ = [
    "FlopFormula",
    "MixerFactory",
    "MixerInfo",
    "available_mixers",
    "build_mixer",
    "find_mixer",
    "mixer_info",
    "mixer_label",
    "register_mixer",
    "unregister_mixer",
]
