"""Figures for SegFormer with swapped token mixers: the architecture, what the reduction ratio keeps, costs per
stage, measured costs, predictions beside the ground truth."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

from ..mixers import available_mixers
from .colours import mixer_colour as _registered_colour

IGNORED_COLOUR = (0.0, 0.0, 0.0)


def mixer_colour(name: str) -> str:
    """The one colour of the mixer a configuration or slot is named after (``"AFNO, stage 1"``, ``"attention (sr 8)"``,
    ``"full attention, all stages"``: the registered mixer's colour); grey for anything else."""
    key = name.lower().removeprefix("full ").removeprefix("efficient ")
    for mixer in sorted(available_mixers(), key=len, reverse=True):  # every registered mixer, longest name first
        if key.startswith(mixer):
            return _registered_colour(mixer)
    return "tab:gray"


def _box(ax, x, y, w, h, text, colour="white", edge="black", size=8, weight="normal") -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", facecolor=colour, edgecolor=edge, lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, weight=weight)


def _arrow(ax, start, end) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, lw=1, color="black"))


def plot_architecture(config, image_size: int = 1024, title: str = "") -> Figure:
    """SegFormer in one picture: four stages (tokens, width, depth, the attention's key grid), the layer that
    repeats inside each, and the all-MLP decoder. ``config`` is a ``SegformerConfig``."""
    from ..segformer.model import stage_grids

    grids = stage_grids(image_size, config)
    fig = Figure(figsize=(11.2, 5.2))
    ax = fig.subplots()
    ax.set_xlim(0, 11.2)
    ax.set_ylim(0, 5.2)
    ax.set_axis_off()
    _box(ax, 0.1, 3.3, 1.2, 1.2, f"image\n{image_size} x {image_size}\nx 3")
    x = 1.6
    for s, ((h, w), width, depth, ratio) in enumerate(zip(grids, config.hidden_sizes, config.depths, config.sr_ratios)):
        keys = (h // ratio) * (w // ratio)
        text = (f"stage {s + 1}\n{h} x {w} = {h * w:,} tokens\nC = {width}, {depth} layers\n"
                f"keys: {h // ratio} x {w // ratio} = {keys:,}\n(reduction {ratio})")  # fmt: skip
        _box(ax, x, 3.1, 2.0, 1.6, text, colour="#f3f3f3", size=7.5)
        _arrow(ax, (x - 0.3, 3.9), (x, 3.9))
        _arrow(ax, (x + 1.0, 3.1), (x + 1.0, 2.45))
        x += 2.4
    _box(ax, 1.6, 1.75, 9.2, 0.7, f"all-MLP decoder: each stage -> {config.decoder_hidden_size} channels, upsampled to "
         f"{grids[0][0]} x {grids[0][1]}, concatenated, fused (1x1), classified", colour="#eef5ff", size=8)  # fmt: skip
    _box(ax, 4.7, 0.35, 3.0, 0.9, f"{config.num_labels} class scores\n{grids[0][0]} x {grids[0][1]} (1/4 resolution)")
    _arrow(ax, (6.2, 1.75), (6.2, 1.25))
    ax.text(0.2, 1.3, "inside every layer of every stage:", fontsize=8, weight="bold")
    ax.text(0.2, 0.95, "x = x + attention(norm(x))", fontsize=8, color=mixer_colour("attention"), weight="bold")
    ax.text(0.2, 0.65, "x = x + MixFFN(norm(x))", fontsize=8)
    ax.text(0.2, 0.3, "the swap replaces the red part only", fontsize=7.5, color="dimgray")
    if title:
        ax.set_title(title)
    return fig


def plot_reduction(image: torch.Tensor, grids: list[tuple[int, int]], ratios: list[int]) -> Figure:
    """What SegFormer's attention sees: each stage's token grid (the queries) beside the grid its keys and values
    are pooled to. ``image (3, H, W)`` in [0, 1]; its mean over colours is shown at each resolution."""
    grey = image.mean(0, keepdim=True)[None]
    fig = Figure(figsize=(3.0 * len(grids), 6.2))
    axes = fig.subplots(2, len(grids), squeeze=False)
    for s, ((h, w), ratio) in enumerate(zip(grids, ratios)):
        queries = torch.nn.functional.adaptive_avg_pool2d(grey, (h, w))[0, 0]
        keys = torch.nn.functional.adaptive_avg_pool2d(grey, (max(1, h // ratio), max(1, w // ratio)))[0, 0]
        for row, (grid, label) in enumerate([(queries, f"stage {s + 1}: {h} x {w} queries"),
                                             (keys, f"keys and values: {grid_shape(keys)} (reduction {ratio})")]):
            im = axes[row, s].imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes[row, s].set_title(label, fontsize=8)
            axes[row, s].set_axis_off()
            fig.colorbar(im, ax=axes[row, s], fraction=0.046, pad=0.02, label="mean intensity (0-1)")
    fig.tight_layout()
    return fig


def grid_shape(t: torch.Tensor) -> str:
    return f"{t.shape[-2]} x {t.shape[-1]}"


def plot_stage_costs(costs: dict[str, dict]) -> Figure:
    """Mixer parameters and GFLOPs per stage, one bar per configuration; ``costs[name] = model_costs(...)``."""
    names = list(costs)
    stages = [r["stage"] for r in next(iter(costs.values()))["stages"]]
    width = 0.8 / len(names)
    fig = Figure(figsize=(11, 3.8))
    axes = fig.subplots(1, 2)
    for j, name in enumerate(names):
        x = np.arange(len(stages)) + (j - (len(names) - 1) / 2) * width
        rows = costs[name]["stages"]
        hatch = "//" if name.startswith("full") else None
        axes[0].bar(x, [r["mixer_params"] for r in rows], width, color=mixer_colour(name), hatch=hatch, label=name)
        axes[1].bar(x, [r["mixer_flops"] / 1e9 for r in rows], width, color=mixer_colour(name), hatch=hatch, label=name)
    for ax, ylabel in zip(axes, ["parameters of the stage's mixers", "GFLOPs of the stage's mixers (forward)"]):
        ax.set_yscale("log")
        ax.set_xticks(np.arange(len(stages)), [f"stage {s}" for s in stages])
        ax.set_ylabel(ylabel)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_measured_costs(results: dict, size: int | None = None) -> Figure:
    """Measured time and peak memory of a forward and a training step per configuration (``costs.run`` results);
    skipped configurations drawn hollow at their predicted time."""
    size = size or max(r["image_size"] for r in results["rows"])
    rows = [r for r in results["rows"] if r["image_size"] == size]
    names = list(dict.fromkeys(r["configuration"] for r in rows))
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for m, (mode, offset) in enumerate([("forward", -0.2), ("train", 0.2)]):
        for i, name in enumerate(names):
            row = next((r for r in rows if r["configuration"] == name and r["mode"] == mode), None)
            if row is None:
                continue
            skipped = row["status"] == "skipped"
            seconds = row["estimate_s"] if skipped else row["time_s"]
            style = dict(color="none" if skipped else mixer_colour(name), edgecolor=mixer_colour(name),
                         hatch=".." if mode == "train" else None)  # fmt: skip
            axes[0].bar(i + offset, seconds, 0.38, **style)
            if not skipped and row["peak_bytes"] is not None:
                axes[1].bar(i + offset, row["peak_bytes"] / 1e9, 0.38, **style)
    for ax, ylabel in zip(axes, ["time (s)", "peak memory (GB)"]):
        ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
    handles = [Patch(facecolor="lightgray", edgecolor="black", label="forward"),
               Patch(facecolor="lightgray", edgecolor="black", hatch="..", label="training step"),
               Patch(facecolor="none", edgecolor="black", label="skipped: predicted")]  # fmt: skip
    axes[0].legend(handles=handles, fontsize=7)
    fig.suptitle(f"SegFormer-{results['variant'].upper()} at {size} x {size}, batch {rows[0]['batch']} "
                 f"({results['device']})", fontsize=9)  # fmt: skip
    fig.tight_layout()
    return fig


def _label_image(mask: torch.Tensor, colours: np.ndarray) -> np.ndarray:
    table = np.zeros((256, 3))
    table[: len(colours)] = colours / 255.0 if colours.max() > 1 else colours
    table[255] = IGNORED_COLOUR
    return table[mask.clamp(0, 255).numpy()]


def plot_label_predictions(images: torch.Tensor, masks: torch.Tensor, predictions: dict[str, torch.Tensor],
                           class_names: list[str], colours: np.ndarray | None = None, n: int = 3) -> Figure:
    """Columns: image, ground truth, then one column per entry of ``predictions`` (``(N, H, W)`` class indices);
    ignored pixels (255) in black; one colour per class (``colours (K, 3)``, e.g. Cityscapes' own)."""
    import matplotlib

    if colours is None:
        colours = np.array(matplotlib.colormaps["tab10"].colors[: len(class_names)]) * 255
    n = min(n, images.shape[0])
    cols = 2 + len(predictions)
    aspect = images.shape[-1] / images.shape[-2]
    fig = Figure(figsize=(2.6 * aspect * cols, 2.6 * n + 0.8))
    axes = fig.subplots(n, cols, squeeze=False)
    titles = ["image", "ground truth", *predictions]
    for i in range(n):
        axes[i, 0].imshow(images[i].permute(1, 2, 0).clamp(0, 1).numpy())
        axes[i, 1].imshow(_label_image(masks[i], colours), interpolation="nearest")
        for c, pred in enumerate(predictions.values()):
            axes[i, 2 + c].imshow(_label_image(pred[i], colours), interpolation="nearest")
        for c in range(cols):
            axes[i, c].set_axis_off()
            if i == 0:
                axes[i, c].set_title(titles[c], fontsize=9)
    present = sorted(set(torch.cat([masks[:n].reshape(-1)] + [p[:n].reshape(-1) for p in predictions.values()])
                         .unique().tolist()) - {255})  # fmt: skip
    handles = [Patch(color=np.asarray(colours[k]) / 255.0, label=class_names[k]) for k in present]
    handles.append(Patch(color=IGNORED_COLOUR, label="ignored (255)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), frameon=False, fontsize=8)
    fig.subplots_adjust(bottom=0.12, wspace=0.04, hspace=0.08)
    return fig


def class_colormap(colours: np.ndarray) -> ListedColormap:
    return ListedColormap(np.asarray(colours) / 255.0)


__all__ = ["mixer_colour", "plot_architecture", "plot_label_predictions", "plot_measured_costs", "plot_reduction",
           "plot_stage_costs"]  # fmt: skip
