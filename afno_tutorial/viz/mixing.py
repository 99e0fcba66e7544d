"""Figures of how mixers mix tokens: Jacobian maps, shift equivariance, resolution, and AFNO's sparsity."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .spectra import _freq_extent, _rows_sorted


def plot_jacobian_maps(maps: dict[str, torch.Tensor], token: tuple[int, int],
                       image: torch.Tensor | None = None) -> Figure:
    """One panel per mixer: ``||d y_t / d x_s||`` over input tokens ``s`` (each panel scaled to its max).

    Args:
        maps: name -> ``(H, W)`` map from :func:`afno_tutorial.lessons.jacobian.token_jacobian_map`.
        token: the output token ``t = (i, j)``, marked with a cross.
        image: optional ``(H_img, W_img)`` or ``(3, H_img, W_img)`` image the tokens come from, shown first.
    """
    n = len(maps) + (image is not None)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n, 3.4), squeeze=False)
    axes = list(axes[0])
    if image is not None:
        ax = axes.pop(0)
        img = image.permute(1, 2, 0) if image.ndim == 3 else image
        ax.imshow(img.cpu().numpy(), cmap="gray")
        h, w = next(iter(maps.values())).shape
        sy, sx = img.shape[0] / h, img.shape[1] / w
        ax.plot((token[1] + 0.5) * sx - 0.5, (token[0] + 0.5) * sy - 0.5, "rx", ms=10, mew=2)
        ax.set_title("input image, output token", fontsize=10)
        ax.axis("off")
    for ax, (name, m) in zip(axes, maps.items()):
        m = m / m.max().clamp_min(1e-30)
        ax.imshow(m.cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.plot(token[1], token[0], "rx", ms=10, mew=2)
        # Spread: the share of the map's squared mass outside the token itself.
        share = float(1 - m[token].pow(2) / m.pow(2).sum())
        ax.set_title(f"{name}\n{100 * share:.0f}% of |J|² from other tokens", fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_shift_errors(errors: dict[str, list[float]], shifts: Sequence[tuple[int, int]]) -> Figure:
    """Grouped bars of the relative shift-equivariance error per mixer and shift (log scale)."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = list(errors)
    width = 0.8 / len(shifts)
    for k, s in enumerate(shifts):
        vals = [max(errors[n][k], 1e-9) for n in names]
        ax.bar(np.arange(len(names)) + k * width, vals, width, label=f"shift {s}")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    ax.set_yscale("log")
    ax.axhline(1e-5, color="gray", ls=":", lw=1)
    ax.set_ylabel("||f(shift x) - shift f(x)|| / ||f(x)||")
    ax.set_title("circular-shift equivariance (float32 rounding is ~1e-7)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_resolution(consistency: dict[str, float], psnr: dict[str, tuple[float, float]] | None = None) -> Figure:
    """Left: :func:`afno_tutorial.lessons.resolution.resolution_consistency` per mixer. Right (optional): test PSNR of
    trained models at their training resolution and at twice it (``name -> (native, double)``)."""
    ncols = 2 if psnr else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 3.6), squeeze=False)
    ax = axes[0, 0]
    names = list(consistency)
    ax.bar(names, [max(v, 1e-9) for v in consistency.values()], color="tab:purple")
    ax.set_yscale("log")
    ax.set_ylabel("||f(up x) - up f(x)|| / ||up f(x)||")
    ax.set_title("same field at 2x resolution? (0 = yes)", fontsize=10)
    ax.tick_params(axis="x", labelsize=8, rotation=15)
    if psnr:
        ax = axes[0, 1]
        keys = list(psnr)
        pos = np.arange(len(keys))
        ax.bar(pos - 0.2, [psnr[k][0] for k in keys], 0.4, label="training resolution")
        ax.bar(pos + 0.2, [psnr[k][1] for k in keys], 0.4, label="2x resolution")
        ax.set_xticks(pos, keys, fontsize=8)
        lo = min(min(v) for v in psnr.values())
        ax.set_ylim(lo - 2, None)
        ax.set_ylabel("test PSNR (dB)")
        ax.set_title("trained inpainting model at 2x resolution", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_sparsity_curve(lambdas: Sequence[float], fractions: Sequence[float], trained_lambda: float,
                        mode_fractions: Sequence[float] | None = None) -> Figure:
    """Fraction of zeroed output coefficients (and, if given, of entirely zeroed modes) against ``lambda``."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.semilogx(lambdas, fractions, "o-", label="coefficients (real/imag parts) zeroed")
    if mode_fractions is not None:
        ax.semilogx(lambdas, mode_fractions, "s--", label="modes zeroed in every channel")
    ax.axvline(trained_lambda, color="gray", ls=":", label=f"trained with lambda = {trained_lambda:g}")
    ax.set_xlabel("lambda (soft-threshold)")
    ax.set_ylabel("fraction zeroed")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_lambda_effect(survival: torch.Tensor, mixing: torch.Tensor, lam: float, zeroed: float) -> Figure:
    """Which modes survive ``S_lambda`` and what the mixer adds to its input at that ``lambda``.

    Args:
        survival: ``(H, W//2 + 1)`` from :func:`afno_tutorial.lessons.sparsity.surviving_fraction_map`.
        mixing: ``(H, W)`` per-token norm of the mixer's mixing part (``mixer(x)``; ``mixer(x) - x`` with an
            inner skip) for one image.
        zeroed: the overall fraction of zeroed coefficients.
    """
    height, half = survival.shape
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8))
    im = ax0.imshow(_rows_sorted(survival), origin="lower", cmap="magma", vmin=0, vmax=1, aspect="auto",
                    extent=_freq_extent(height, 2 * (half - 1)), interpolation="nearest")
    ax0.set_xlabel("$k_x$")
    ax0.set_ylabel("$k_y$")
    ax0.set_title(f"lambda = {lam:.3g}: share of coefficients kept per bin\n"
                  f"{100 * zeroed:.1f}% of all coefficients zeroed", fontsize=10)
    fig.colorbar(im, ax=ax0)
    im = ax1.imshow(mixing.cpu().numpy(), cmap="viridis")
    ax1.set_title("|mixing part| per token (one image)", fontsize=10)
    ax1.axis("off")
    fig.colorbar(im, ax=ax1)
    fig.tight_layout()
    return fig
