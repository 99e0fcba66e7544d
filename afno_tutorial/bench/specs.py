"""What the benchmark runs: mixer specs, the modules they build, their FLOPs, and the call that is timed.

A spec is a registered mixer's name (:func:`afno_tutorial.mixers.available_mixers`) or a baseline's
(:data:`~afno_tutorial.bench.baselines.BASELINES`), with constructor arguments and an optional ``torch.compile``:
``"afno"``, ``"afno:hard_thresholding_fraction=0.5,num_blocks=4"``, ``"afno+compile"``. The default list is every
registered mixer (:func:`default_mixers`), so a mixer registered once is benchmarked with no change here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from ..flops import mixer_flops
from ..mixers import available_mixers, build_mixer, find_mixer
from .baselines import BASELINES

MODES = ("forward", "backward")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}


def default_mixers() -> tuple[str, ...]:
    """The benchmark's default mixers: every registered one, in registration order."""
    return tuple(available_mixers())


@dataclass
class MixerSpec:
    """A mixer to benchmark: a registry/baseline ``name`` and constructor ``kwargs``; ``label`` names it in results."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    compile: bool = False

    @property
    def label(self) -> str:
        text = self.name + "+compile" if self.compile else self.name
        if not self.kwargs:
            return text
        # Keys sorted: the same configuration has one label however it was typed.
        return text + ":" + ",".join(f"{k}={v!r}" for k, v in sorted(self.kwargs.items()))


def parse_mixer_spec(text: str) -> MixerSpec:
    """``"afno"``, ``"afno:hard_thresholding_fraction=0.5,num_blocks=4"`` or ``"afno+compile"`` (wrapped in
    ``torch.compile``) -> :class:`MixerSpec`."""
    name, _, rest = text.partition(":")
    compiled = name.endswith("+compile")
    name = name.removesuffix("+compile")
    known = [*available_mixers(), *BASELINES]
    if name not in known:
        raise ValueError(f"mixers: expected names from {known}, got {name!r}")
    kwargs: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.isidentifier():
            raise ValueError(f"mixers: expected 'name:key=value,...', got {text!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            if not value.isidentifier():  # a bare word is a string: afno:path=pocketfft
                raise ValueError(f"mixers: the value of {key!r} in {text!r} is not a Python literal") from None
            kwargs[key] = value
    return MixerSpec(name, kwargs, compiled)


def build_bench_mixer(spec: MixerSpec | str, dim: int, grid: int) -> nn.Module:
    """Build the module for ``spec`` at ``dim`` channels on a ``grid x grid`` token grid."""
    spec = parse_mixer_spec(spec) if isinstance(spec, str) else spec
    if spec.name in BASELINES:
        return BASELINES[spec.name](dim, **spec.kwargs)
    return build_mixer(spec.name, dim, grid_size=(grid, grid), **spec.kwargs)



def theoretical_flops(module: nn.Module, grid: int, batch: int, mode: str) -> float | None:
    """Forward FLOPs (x3 for forward+backward) on a ``grid x grid`` input: a baseline's ``forward_flops``, else
    :func:`afno_tutorial.flops.mixer_flops` (counted for a mixer registered without a formula); ``None`` if
    unknown."""
    factor = 3.0 if mode == "backward" else 1.0
    if isinstance(module, tuple(BASELINES.values())):
        per_image = module.forward_flops(grid, grid)
        return None if per_image is None else factor * batch * per_image
    try:
        return factor * mixer_flops(module, (grid, grid), batch)["total"]
    except TypeError:  # not a registered mixer and no `dim` to count it with
        return None


def flops_counted(module: nn.Module) -> bool:
    """True when :func:`theoretical_flops` counts ``module``'s FLOPs (matrix products only) instead of using a
    formula: a mixer registered without one."""
    if isinstance(module, tuple(BASELINES.values())):
        return False
    info = find_mixer(module)
    return info is None or info.flops is None


def make_step(module: nn.Module, x: torch.Tensor, mode: str) -> Callable[[], None]:
    """One benchmark call of ``module`` on ``x: (B, H, W, C)``: ``mode="forward"`` under ``torch.no_grad``,
    ``"backward"`` forward plus backward of a fixed random output gradient (gradients reset every call)."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    if mode == "forward":

        def step() -> None:
            with torch.no_grad():
                module(x)

        return step
    x = x.detach().requires_grad_()
    grad = torch.randn_like(x)

    def step() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).backward(grad)

    return step




def parse_dtype(name: str) -> torch.dtype:
    """``"float32"``, ``"bfloat16"`` or ``"float64"`` -> the torch dtype."""
    if name not in DTYPES:
        raise ValueError(f"dtype: expected one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[name]


def setup_step(spec: MixerSpec, grid: int, dim: int, batch: int, device: torch.device, dtype: torch.dtype,
               mode: str) -> tuple[nn.Module, torch.Tensor, Callable[[], None]]:  # fmt: skip
    """``(module, x, step)`` of one configuration: the module of ``spec`` on ``device`` in ``dtype`` and a random
    ``x: (batch, grid, grid, dim)``, both drawn from seed 0 (the caller's random state is left as it was), and
    :func:`make_step` of them."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        module = build_bench_mixer(spec, dim, grid).to(device=device, dtype=dtype)
        if spec.compile:
            module = torch.compile(module)  # compiled on the warm-up call, which is not timed
        x = torch.randn(batch, grid, grid, dim, device=device, dtype=dtype)
        return module, x, make_step(module, x, mode)  # the backward's output gradient is drawn here too


__all__ = [
    "DTYPES", "MODES", "MixerSpec", "build_bench_mixer", "default_mixers", "flops_counted", "make_step",
    "parse_dtype", "parse_mixer_spec", "setup_step", "theoretical_flops",
]  # fmt: skip
