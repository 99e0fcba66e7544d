"""Figures of how mixers mix tokens: Jacobian maps, shift equivariance, resolution, and AFNO's sparsity."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from ..mixers import mixer_label
from .colours import mixer_colours, series_colours
from .panels import show_image
from .spectra import _freq_extent, _rows_sorted


def plot_jacobian_maps(maps: dict[str, torch.Tensor], token: tuple[int, int],
                       image: torch.Tensor | None = None) -> Figure:
    """One panel per mixer: ``||d y_t / d x_s||_F`` over input tokens ``s``, all on one logarithmic colour scale.

    Args:
        maps: name -> ``(H, W)`` map from :func:`afno_tutorial.lessons.jacobian.token_jacobian_map`.
        token: the output token ``t = (i, j)``, marked with a cross.
        image: optional ``(H_img, W_img)`` or ``(3, H_img, W_img)`` image the tokens come from, shown first.

    The shared scale spans four decades below the largest value of any map, so that the mixers can be compared
    with each other, not only each with itself.
    """
    n = len(maps) + (image is not None)
    fig, axes = plt.subplots(1, n, figsize=(3.3 * n + 1.0, 3.4), squeeze=False)
    axes = list(axes[0])
    if image is not None:
        ax = axes.pop(0)
        img = image.permute(1, 2, 0) if image.ndim == 3 else image
        if img.ndim == 2:
            show_image(ax, img, "pixel value")
        else:
            ax.imshow(img.cpu().numpy())
        h, w = next(iter(maps.values())).shape
        sy, sx = img.shape[0] / h, img.shape[1] / w
        ax.plot((token[1] + 0.5) * sx - 0.5, (token[0] + 0.5) * sy - 0.5, "rx", ms=10, mew=2)
        ax.set_title("input image, output token", fontsize=10)
        ax.axis("off")
    top = max(float(m.max()) for m in maps.values())
    norm = LogNorm(vmin=top * 1e-4, vmax=top)
    for k, (ax, (name, m)) in enumerate(zip(axes, maps.items())):
        im = ax.imshow(m.clamp_min(top * 1e-4).cpu().numpy(), cmap="viridis", norm=norm)
        ax.plot(token[1], token[0], "rx", ms=10, mew=2)
        # Spread: the share of the map's squared mass outside the token itself.
        share = float(1 - m[token].pow(2) / m.pow(2).sum().clamp_min(1e-30))
        ax.set_title(f"{name}\n{100 * share:.0f}% of |J|² from other tokens", fontsize=10)
        ax.set_xlabel("input token column")
        ax.set_ylabel("input token row" if k == 0 else "")
    fig.subplots_adjust(wspace=0.15)
    bar = fig.colorbar(im, ax=axes, fraction=0.02, pad=0.02)
    bar.set_label(r"$\|\partial y_t / \partial x_s\|_F$ (log scale)", fontsize=9)
    return fig


def plot_token_maps(maps: dict[str, torch.Tensor], label: str, title: str | None = None,
                    marks: Sequence[tuple[int, int]] = ()) -> Figure:
    """Maps over the token grid side by side on one shared linear colour scale (``name -> (H, W)``).

    Args:
        label: what the values are, for the colour bar.
        marks: tokens ``(i, j)`` to mark with a cross on every panel.
    """
    top = max(float(m.max()) for m in maps.values())
    norm = Normalize(vmin=0.0, vmax=top)
    fig, axes = plt.subplots(1, len(maps), figsize=(3.4 * len(maps) + 1.0, 3.4), squeeze=False)
    for ax, (name, m) in zip(axes[0], maps.items()):
        im = ax.imshow(m.detach().cpu().numpy(), cmap="viridis", norm=norm)
        for i, j in marks:
            ax.plot(j, i, "rx", ms=8, mew=1.5)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("token column")
        ax.set_ylabel("token row")
    bar = fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.02)
    bar.set_label(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def label_colours(names: Sequence[str]) -> dict[str, str]:
    """A colour per display name: the registered mixer's own colour for a name that is a mixer's registry name or
    label, or starts with one (``"AFNO forward"``, a variant of AFNO, gets AFNO's colour); others from the palette."""
    colours = mixer_colours()
    keys = {**{n: n for n in colours}, **{mixer_label(n).lower(): n for n in colours}}
    out, rest = {}, []
    for name in names:
        low = name.lower()
        match = next((keys[k] for k in sorted(keys, key=len, reverse=True) if low == k or low.startswith(k + " ")),
                     None)
        if match is None:
            rest.append(name)
        else:
            out[name] = colours[match]
    out.update(series_colours(rest) if rest else {})
    return {name: out[name] for name in names}


def plot_shift_errors(errors: dict[str, list[float]], shifts: Sequence[tuple[int, int]]) -> Figure:
    """Bars of the relative shift-equivariance error per mixer (its colour) and shift (hatches), on a log scale."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = list(errors)
    colours = label_colours(names)
    width = 0.8 / len(shifts)
    hatches = ["", "//", "..", "xx", "\\\\"]
    for k, s in enumerate(shifts):
        vals = [max(errors[n][k], 1e-9) for n in names]
        ax.bar(np.arange(len(names)) + k * width, vals, width, color=[colours[n] for n in names],
               hatch=hatches[k % len(hatches)], edgecolor="k", linewidth=0.5, label=f"shift {s}")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    ax.set_yscale("log")
    ax.axhline(1e-5, color="gray", ls=":", lw=1)
    ax.set_ylabel("||f(shift x) - shift f(x)|| / ||f(x)||")
    ax.set_title("circular-shift equivariance (float32 rounding is ~1e-7)", fontsize=10)
    _hatch_legend(ax)
    fig.tight_layout()
    return fig


def _hatch_legend(ax) -> None:
    """A legend whose patches show only the hatches: white faces, as the bars' colours say the mixer."""
    for patch in ax.legend(fontsize=8).get_patches():
        patch.set_facecolor("white")


def plot_resolution(consistency: dict[str, float], psnr: dict[str, tuple[float, float]] | None = None) -> Figure:
    """Left: :func:`afno_tutorial.lessons.resolution.resolution_consistency` per mixer. Right (optional): test PSNR of
    trained models at their training resolution and at twice it (``name -> (native, double)``)."""
    ncols = 2 if psnr else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 3.6), squeeze=False)
    ax = axes[0, 0]
    names = list(consistency)
    colours = label_colours(names + list(psnr or {}))
    registered = {key for n in mixer_colours() for key in (n, mixer_label(n).lower())}  # names and labels
    ax.bar(names, [max(v, 1e-9) for v in consistency.values()], color=[colours[n] for n in names],
           hatch=["//" if n.lower() not in registered else "" for n in names],
           edgecolor="k", linewidth=0.5)
    ax.set_yscale("log")
    ax.set_ylabel("||f(up x) - up f(x)|| / ||up f(x)||")
    ax.set_title("same field at 2x resolution? (0 = yes)", fontsize=10)
    ax.tick_params(axis="x", labelsize=8, rotation=15)
    if psnr:
        ax = axes[0, 1]
        keys = list(psnr)
        pos = np.arange(len(keys))
        ax.bar(pos - 0.2, [psnr[k][0] for k in keys], 0.4, color=[colours[k] for k in keys], edgecolor="k",
               linewidth=0.5, label="training resolution")
        ax.bar(pos + 0.2, [psnr[k][1] for k in keys], 0.4, color=[colours[k] for k in keys], edgecolor="k",
               linewidth=0.5, hatch="..", label="2x resolution")
        ax.set_xticks(pos, keys, fontsize=8)
        lo = min(min(v) for v in psnr.values())
        ax.set_ylim(lo - 2, None)
        ax.set_ylabel("test PSNR (dB)")
        ax.set_title("trained inpainting model at 2x resolution", fontsize=10)
        _hatch_legend(ax)
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
    fig.colorbar(im, ax=ax0).set_label("share of (image, channel) coefficients kept", fontsize=8)
    im = ax1.imshow(mixing.cpu().numpy(), cmap="viridis")
    ax1.set_title("|mixing part| per token (one image)", fontsize=10)
    ax1.set_xlabel("token column")
    ax1.set_ylabel("token row")
    fig.colorbar(im, ax=ax1).set_label("norm of the mixer's output at the token", fontsize=8)
    fig.tight_layout()
    return fig
