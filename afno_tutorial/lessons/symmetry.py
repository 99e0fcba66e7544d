"""Circular-shift equivariance: does shifting the input tokens shift the output the same way?

A mixer ``f`` is shift-equivariant when ``f(roll(x, s)) == roll(f(x), s)``. A shift multiplies each Fourier
coefficient by a phase ``exp(-2 pi i k.s / N)``. Per-bin *linear* maps (GFN's filter, FNO's weights) commute with
that phase, so GFN and FNO are equivariant; AFNO's ReLU and soft-shrink act on the real and imaginary parts
separately, which does not commute with a rotation of the complex plane, so AFNO is not.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..mixers import AFNO2d
from .probes import bias_field, mixing_part, without_biases


@torch.no_grad()
def shift_equivariance_error(mixer: nn.Module, x: torch.Tensor, shift: tuple[int, int]) -> float:
    """``||f(roll(x, s)) - roll(f(x), s)|| / ||f(x)||`` with ``f`` the mixing part (AFNO's skip removed).

    Args:
        x: ``(B, H, W, C)``.
        shift: ``(s_y, s_x)`` tokens, circular.
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected (B, H, W, C), got shape {tuple(x.shape)}")
    ref = mixing_part(mixer, x)
    moved = mixing_part(mixer, torch.roll(x, shift, dims=(1, 2)))
    return float((moved - torch.roll(ref, shift, dims=(1, 2))).norm() / ref.norm().clamp_min(1e-12))


def shift_errors(mixers: dict[str, nn.Module], inputs: dict[str, torch.Tensor],
                 shifts: Sequence[tuple[int, int]]) -> dict[str, list[float]]:
    """:func:`shift_equivariance_error` for each named mixer (with its own input) and each shift."""
    return {name: [shift_equivariance_error(m, inputs[name], s) for s in shifts] for name, m in mixers.items()}


@torch.no_grad()
def shift_error_parts(mixer: AFNO2d, x: torch.Tensor, shift: tuple[int, int]) -> dict[str, float]:
    """Where an AFNO mixer's shift-equivariance error comes from, each relative to ``||f(x)||`` of the mixer itself.

    Returns ``{"mixer": ..., "bias_field": ..., "without_biases": ...}``: the error of the mixer; the error its bias
    field alone makes (:func:`afno_tutorial.lessons.probes.bias_field`, a fixed pattern at token ``(0, 0)`` that a
    shifted input does not move); the error of the same mixer with its biases set to zero (what the component-wise
    ReLU and soft-shrink break by themselves).
    """
    ref = mixing_part(mixer, x).norm().clamp_min(1e-12)
    field = bias_field(mixer, tuple(x.shape[1:3])).to(x.dtype)
    field_error = (field - torch.roll(field, shift, dims=(1, 2))).norm() * x.shape[0] ** 0.5  # once per image
    twin = without_biases(mixer)
    shifted = mixing_part(twin, torch.roll(x, shift, dims=(1, 2)))
    twin_error = (shifted - torch.roll(mixing_part(twin, x), shift, dims=(1, 2))).norm()
    return {"mixer": shift_equivariance_error(mixer, x, shift), "bias_field": float(field_error / ref),
            "without_biases": float(twin_error / ref)}
