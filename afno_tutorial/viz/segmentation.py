"""Figures for few-shot segmentation: data samples, pretraining curves, mIoU bars, predicted masks, scaling."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .colours import series_colours


def class_cmap(num_classes: int) -> ListedColormap:
    """A qualitative colour map with one colour per class."""
    import matplotlib

    base = matplotlib.colormaps["tab10"].colors
    return ListedColormap([base[i % len(base)] for i in range(num_classes)])


def _legend(fig: Figure, class_names: list[str]) -> None:
    cmap = class_cmap(len(class_names))
    handles = [Patch(color=cmap(i), label=name) for i, name in enumerate(class_names)]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(class_names), 8), frameon=False, fontsize=8)


def _image(ax, image: torch.Tensor) -> None:
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy(), interpolation="nearest")
    ax.set_axis_off()


def _mask(ax, mask: torch.Tensor, num_classes: int) -> None:
    ax.imshow(mask.cpu().numpy(), cmap=class_cmap(num_classes), vmin=-0.5, vmax=num_classes - 0.5,
              interpolation="nearest")
    ax.set_axis_off()


def plot_samples(images: torch.Tensor, masks: torch.Tensor | None, class_names: list[str] | None = None,
                 n: int = 6, title: str | None = None) -> Figure:
    """``n`` images ``(N, 3, H, W)`` over their masks ``(N, H, W)`` (or images alone when ``masks`` is None)."""
    n = min(n, images.shape[0])
    rows = 1 if masks is None else 2
    fig = Figure(figsize=(1.8 * n, 1.9 * rows + (0.4 if class_names else 0)))
    axes = fig.subplots(rows, n, squeeze=False)
    for i in range(n):
        _image(axes[0, i], images[i])
        if masks is not None:
            _mask(axes[1, i], masks[i], len(class_names or [None] * (int(masks.max()) + 1)))
    if class_names and masks is not None:
        _legend(fig, class_names)
        fig.subplots_adjust(bottom=0.15)
    if title:
        fig.suptitle(title)
    return fig


def plot_through_a_patch(textures: dict[str, np.ndarray], patch: int = 4, crops: int = 4, context: int = 24,
                         seed: int = 0) -> Figure:
    """What a patch sees and what its surroundings show: per texture ``(H, W)`` in [0, 1], the texture, then
    ``crops`` random ``patch x patch`` windows and the same windows with ``context`` pixels around them.

    Pixel values are grey levels from 0 (black) to 1 (white), the same scale in every panel.
    """
    rng = np.random.default_rng(seed)
    names = list(textures)
    fig = Figure(figsize=(1.3 * (1 + 2 * crops) + 0.8, 1.35 * len(names) + 0.5))
    axes = fig.subplots(len(names), 1 + 2 * crops, squeeze=False)
    for r, name in enumerate(names):
        tex = np.asarray(textures[name])
        h, w = tex.shape
        axes[r, 0].imshow(tex, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axes[r, 0].set_ylabel(name, fontsize=8)
        for c in range(crops):
            top, left = int(rng.integers(context, h - context - patch)), int(rng.integers(context, w - context - patch))
            axes[r, 1 + c].imshow(tex[top : top + patch, left : left + patch], cmap="gray", vmin=0, vmax=1,
                                  interpolation="nearest")
            around = tex[top - context : top + patch + context, left - context : left + patch + context]
            image = axes[r, 1 + crops + c].imshow(around, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_title("texture", fontsize=8)
    axes[0, 1].set_title(f"{patch}x{patch} patches", fontsize=8, loc="left")
    axes[0, 1 + crops].set_title(f"the same, with {context} px around", fontsize=8, loc="left")
    fig.colorbar(image, ax=axes, fraction=0.02, label="grey level (0-1)")
    return fig


def plot_pretraining_curves(curves: dict[str, dict], smooth: int = 25, ylabel: str = "masked-pixel MSE",
                            title: str = "Inpainting pretraining") -> Figure:
    """Pretraining loss against step per mixer; ``curves[mixer] = {"step": [...], "loss": [...]}``.

    A running mean over ``smooth`` steps is drawn over the raw (faint) curve.
    """
    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    colours = series_colours(list(curves))
    for mixer, h in curves.items():
        loss = np.asarray(h["loss"], dtype=float)
        colour = colours[mixer]
        ax.plot(h["step"], loss, color=colour, alpha=0.2, lw=0.8)
        if len(loss) >= smooth:
            run = np.convolve(loss, np.ones(smooth) / smooth, mode="valid")
            ax.plot(np.asarray(h["step"])[smooth - 1 :], run, color=colour, label=mixer)
        else:
            ax.plot(h["step"], loss, color=colour, label=mixer)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_miou_bars(results: dict) -> Figure:
    """Bars of mIoU (mean ± std over seeds) per K, one bar per mixer (and init/mode), chance level dashed."""
    summary = results["summary"]
    shots = sorted({r["shots"] for r in summary})
    variants = list(dict.fromkeys((r["mixer"], r["init"], r["mode"]) for r in summary))
    width = 0.8 / max(1, len(variants))
    fig = Figure(figsize=(max(5, 1.6 * len(shots) + 0.3 * len(variants)), 3.8))
    ax = fig.subplots()
    colours = series_colours([mixer for mixer, _, _ in variants])
    for j, (mixer, init, mode) in enumerate(variants):
        rows = {r["shots"]: r for r in summary if (r["mixer"], r["init"], r["mode"]) == (mixer, init, mode)}
        x = np.arange(len(shots)) + (j - (len(variants) - 1) / 2) * width
        mean = [100 * rows[k]["miou_mean"] if k in rows else np.nan for k in shots]
        std = [100 * rows[k]["miou_std"] if k in rows else 0 for k in shots]
        plain = mode in ("head", "frozen")
        label = mixer + ("" if init == "pretrained" else f" ({init})") + ("" if plain else f" [{mode}]")
        ax.bar(x, mean, width, yerr=std, capsize=2, label=label, color=colours[mixer],
               alpha=1.0 if init == "pretrained" else 0.45, hatch=None if plain else "//")
    ax.axhline(100 * results["chance_miou"], color="k", ls="--", lw=1, label="chance")
    ax.set_xticks(np.arange(len(shots)), [f"K = {k}" for k in shots])
    ax.set_ylabel("mIoU (%)")
    ax.set_title(f"Few-shot segmentation, {results['settings']['eval_images']} test images ({results['device']})",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_predictions(images: torch.Tensor, masks: torch.Tensor, predictions: dict[str, torch.Tensor],
                     class_names: list[str], n: int = 4) -> Figure:
    """Rows: image, ground truth, then one row per entry of ``predictions`` (``(N, H, W)`` each)."""
    n = min(n, images.shape[0])
    rows = 2 + len(predictions)
    fig = Figure(figsize=(1.9 * n + 1.2, 1.9 * rows + 0.4))
    axes = fig.subplots(rows, n, squeeze=False)
    labels = ["image", "ground truth", *predictions]
    for i in range(n):
        _image(axes[0, i], images[i])
        _mask(axes[1, i], masks[i], len(class_names))
        for r, pred in enumerate(predictions.values()):
            _mask(axes[2 + r, i], pred[i], len(class_names))
    for r, label in enumerate(labels):
        axes[r, 0].text(-0.08, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=9)
    _legend(fig, class_names)
    fig.subplots_adjust(left=0.15, bottom=0.08, wspace=0.05, hspace=0.08)
    return fig


def plot_large(image: torch.Tensor, mask: torch.Tensor, prediction: torch.Tensor, class_names: list[str],
               title: str = "") -> Figure:
    """A large image, its ground truth and the prediction side by side."""
    fig = Figure(figsize=(12, 4.4))
    axes = fig.subplots(1, 3)
    _image(axes[0], image)
    _mask(axes[1], mask, len(class_names))
    _mask(axes[2], prediction, len(class_names))
    for ax, t in zip(axes, ["image", "ground truth", "prediction"]):
        ax.set_title(t)
    _legend(fig, class_names)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(bottom=0.1)
    return fig


def plot_scaling(measured: dict[str, tuple[list[int], list[float]]],
                 extrapolated: dict[str, tuple[int, float]] | None = None, device: str = "") -> Figure:
    """Forward time against token count, log-log; ``measured[name] = (tokens, seconds)``;
    ``extrapolated[name] = (tokens, seconds)`` is drawn hollow with a dotted line (an estimate, not a measurement).
    """
    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    colours = series_colours([*measured, *(extrapolated or {})])
    for name, (tokens, seconds) in measured.items():
        colour = colours[name]
        ax.plot(tokens, seconds, "o-", color=colour, label=f"{name} (measured)")
        if extrapolated and name in extrapolated:
            t, s = extrapolated[name]
            ax.plot([tokens[-1], t], [seconds[-1], s], ":", color=colour)
            ax.plot([t], [s], "o", mfc="none", color=colour, label=f"{name} (estimated)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("tokens per image")
    ax.set_ylabel("forward time (s)")
    ax.set_title(f"One image, one forward pass ({device})" if device else "One image, one forward pass", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
