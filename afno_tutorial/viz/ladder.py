"""Figures for the FNO -> AFNO ladder (notebook 02)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from ..lessons.ladder import hilbert_transform
from .colours import mixer_colour
from .panels import show_image


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    window = max(1, min(window, len(v)))
    return np.convolve(v, np.ones(window) / window, mode="valid")


def _rung_colours(n: int) -> list:
    """One colour per rung, from FNO's colour (rung 1) to AFNO's (the last rung), the steps in between blended."""
    start, end = np.array(to_rgb(mixer_colour("fno"))), np.array(to_rgb(mixer_colour("afno")))
    return [tuple(start + (end - start) * t) for t in np.linspace(0.0, 1.0, n)]


def plot_ladder(rows: Sequence[dict]) -> Figure:
    """Six panels: mixer parameters; GFLOPs, forward time and peak memory at each measured grid; test PSNR (mean ±
    std over seeds, each seed a dot); training loss (mean over seeds).

    ``rows`` from :func:`afno_tutorial.lessons.ladder.run_ladder`.
    """
    if not rows:
        raise ValueError("rows: expected at least one rung")
    grids = list(rows[0]["costs"])
    labels = [str(r["number"]) for r in rows]
    colours = _rung_colours(len(rows))
    x = np.arange(len(rows))
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    ax = axes[0, 0]
    ax.bar(x, [r["costs"][grids[0]]["params"] for r in rows], color=colours)
    ax.set_yscale("log")
    ax.set_ylabel("parameters of one mixer")
    ax.set_title("mixer parameters (any grid for rungs 3-6)", fontsize=10)
    panels = [("flops", 1e-9, "GFLOP per forward"), ("forward_ms", 1.0, f"ms per forward\n{rows[0]['device']}"),
              ("peak_mb", 1.0, "peak MiB of the forward's tensors")]
    width = 0.8 / len(grids)
    for ax, (key, scale, ylabel) in zip([axes[0, 1], axes[0, 2], axes[1, 0]], panels):
        for j, (h, w) in enumerate(grids):
            values = [r["costs"][(h, w)][key] * scale for r in rows]
            ax.bar(x + (j - (len(grids) - 1) / 2) * width, values, width, color=colours,
                   hatch=None if j == 0 else "//", edgecolor="k", linewidth=0.5,
                   label=f"{h}x{w} tokens" + (" (training grid)" if j == 0 else ""))
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
        ax.set_title(f"one mixer, batch 1: {ylabel.split(chr(10))[0]}", fontsize=10)
        ax.legend(fontsize=8)
    ax = axes[1, 1]
    means = [r["psnr_mean"] for r in rows]
    ax.bar(x, means, color=colours, yerr=[r["psnr_std"] for r in rows], capsize=4, ecolor="k")
    for i, r in enumerate(rows):
        ax.plot([i] * len(r["psnr"]), r["psnr"], "k.", ms=5)
    every = [p for r in rows for p in r["psnr"]]
    lo, hi = min(every), max(every)
    ax.set_ylim(lo - 0.6 * (hi - lo + 0.1), hi + 0.3 * (hi - lo + 0.1))
    ax.set_ylabel("test PSNR (dB), higher is better")
    ax.set_title(f"quality: mean ± std over {len(rows[0]['psnr'])} seeds (dots: each seed)", fontsize=10)
    ax = axes[1, 2]
    for r, c in zip(rows, colours):
        window = max(1, len(r["loss"]) // 20)
        smooth = _smooth(r["loss"], window)
        ax.plot(np.arange(len(smooth)) + window - 1, smooth, color=c, label=f"{r['number']}: {r['name']}")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("masked MSE (mean over seeds, smoothed)")
    ax.set_title("training loss", fontsize=10)
    ax.legend(fontsize=8)
    for ax in list(axes.flat)[:5]:
        ax.set_xticks(x, labels)
        ax.set_xlabel("rung")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_nonadaptive_demo(decomposition: dict[str, torch.Tensor], size: int = 16) -> Figure:
    """A shared linear weight without FFTs: the fixed kernel of the Hilbert-type transform, ``mixer(x)`` against it.

    Left: ``H`` applied to a unit impulse at the centre of a ``size x size`` grid (the only spatial pattern rung 3
    can produce; nothing about it is learned). Right: every entry of ``mixer(x)`` against ``(P x) A + (H P x) B``
    (``decomposition`` from :func:`afno_tutorial.lessons.ladder.nonadaptive_decomposition`).
    """
    delta = torch.zeros(1, size, size, 1, dtype=torch.float64)
    delta[0, size // 2, size // 2, 0] = 1.0
    kernel = hilbert_transform(delta)[0, :, :, 0]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    show_image(ax0, kernel, "value of $H\\delta$ (unit impulse in)", cmap="RdBu_r", symmetric=True, axis_off=False,
               title="$H\\delta$: the fixed kernel of the Hilbert-type transform\n(impulse at the centre)")
    ax0.set_xlabel("token column")
    ax0.set_ylabel("token row")
    a = decomposition["mixer"].flatten().numpy()
    b = decomposition["pointwise"].flatten().numpy()
    ax1.plot(b, a, ".", ms=2, alpha=0.5)
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    ax1.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax1.set_xlabel("$(Px)A + (HPx)B$  (no weight in Fourier space)")
    ax1.set_ylabel("mixer(x)")
    ax1.set_title(f"a shared linear weight is a 1x1 map plus fixed $P$, $H$: max |diff| "
                  f"{float((decomposition['mixer'] - decomposition['pointwise']).abs().max()):.1e}", fontsize=10)
    fig.tight_layout()
    return fig
