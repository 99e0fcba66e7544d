"""Figures for the FNO -> AFNO ladder (notebook 02)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..lessons.ladder import hilbert_transform


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    window = max(1, min(window, len(v)))
    return np.convolve(v, np.ones(window) / window, mode="valid")


def plot_ladder(rows: Sequence[dict], measure_grid: tuple[int, int]) -> Figure:
    """Six panels, one bar per rung: mixer parameters, GFLOPs, forward time, peak memory, test PSNR, loss curves.

    ``rows`` from :func:`afno_tutorial.lessons.ladder.run_ladder`.
    """
    if not rows:
        raise ValueError("rows: expected at least one rung")
    labels = [f"{r['number']}" for r in rows]
    h, w = measure_grid
    panels = [("params", "mixer parameters", True), ("flops", f"mixer GFLOPs at {h}x{w}", False),
              ("forward_ms", f"forward ms at {h}x{w}\n{rows[0]['device']}", False),
              ("peak_mb", f"peak MB at {h}x{w}", False), ("psnr", "test PSNR (dB), higher is better", False)]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    colors = plt.cm.viridis(np.linspace(0.1, 0.9, len(rows)))
    for ax, (key, title, log) in zip(axes.flat, panels):
        vals = [r[key] / (1e9 if key == "flops" else 1) for r in rows]
        ax.bar(labels, vals, color=colors)
        if log:
            ax.set_yscale("log")
        if key == "psnr":
            lo, hi = min(vals), max(vals)
            ax.set_ylim(lo - 0.5 * (hi - lo + 0.2), hi + 0.3 * (hi - lo + 0.2))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("rung")
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax = axes.flat[5]
    for r, c in zip(rows, colors):
        window = max(1, len(r["loss"]) // 20)
        ax.plot(np.arange(len(_smooth(r["loss"], window))) + window - 1, _smooth(r["loss"], window), color=c,
                label=f"{r['number']}: {r['name']}")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("training loss (masked MSE, smoothed)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_nonadaptive_demo(decomposition: dict[str, torch.Tensor], size: int = 16) -> Figure:
    """Rung 3 without FFTs: the fixed spatial kernel of the Hilbert-type transform, and ``mixer(x)`` against it.

    Left: ``H`` applied to a unit impulse at the centre of a ``size x size`` grid (the only spatial pattern rung 3
    can produce; nothing about it is learned). Right: every entry of ``mixer(x)`` against ``x A + (H x) B``
    (``decomposition`` from :func:`afno_tutorial.lessons.ladder.nonadaptive_decomposition`).
    """
    delta = torch.zeros(1, size, size, 1, dtype=torch.float64)
    delta[0, size // 2, size // 2, 0] = 1.0
    kernel = hilbert_transform(delta)[0, :, :, 0]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    lim = float(kernel.abs().max())
    im = ax0.imshow(kernel.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax0.set_title("$H\\delta$: the fixed kernel of the Hilbert-type transform\n(impulse at the centre)",
                  fontsize=10)
    fig.colorbar(im, ax=ax0, fraction=0.046)
    a = decomposition["mixer"].flatten().numpy()
    b = decomposition["pointwise"].flatten().numpy()
    ax1.plot(b, a, ".", ms=2, alpha=0.5)
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    ax1.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax1.set_xlabel("$xA + (Hx)B$  (no FFT weights)")
    ax1.set_ylabel("mixer(x)")
    ax1.set_title(f"rung 3 equals a 1x1 map plus $H$: max |diff| "
                  f"{float((decomposition['mixer'] - decomposition['pointwise']).abs().max()):.1e}", fontsize=10)
    fig.tight_layout()
    return fig
