"""Pieces every figure shares: an image with its labelled colour bar, and a kept/dropped mask of frequency bins."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.image import AxesImage


def _numpy(a: torch.Tensor | np.ndarray) -> np.ndarray:
    return a.detach().cpu().float().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def show_image(ax: Axes, image: torch.Tensor | np.ndarray, label: str, *, cmap: str = "gray",
               vmin: float | None = None, vmax: float | None = None, symmetric: bool = False,
               title: str | None = None, axis_off: bool = True, **imshow_kwargs) -> AxesImage:
    """``imshow`` of a 2-D array with a colour bar labelled ``label`` (the values' meaning and unit).

    Args:
        symmetric: centre the colour scale on 0 (``vmin = -vmax``), for signed values with a diverging ``cmap``.
        axis_off: hide the pixel axes (pictures); pass ``False`` and label the axes for maps over a grid.
    """
    arr = _numpy(image)
    if symmetric:
        lim = float(np.abs(arr).max()) if vmax is None else vmax
        vmin, vmax = -lim, lim
    im = ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax, **imshow_kwargs)
    bar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if title is not None:
        ax.set_title(title, fontsize=10)
    if axis_off:
        ax.set_xticks([])
        ax.set_yticks([])
    return im


def show_mask(ax: Axes, mask: np.ndarray, extent: list[float], color: str = "tab:blue") -> AxesImage:
    """A boolean map of frequency bins in two colours, with a two-entry colour bar: dropped, kept."""
    im = ax.imshow(mask.astype(float), origin="lower", cmap=ListedColormap(["#f2f2f2", color]), vmin=0, vmax=1,
                   extent=extent, aspect="auto", interpolation="nearest")
    bar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03, ticks=[0.25, 0.75])
    bar.ax.set_yticklabels(["dropped", "kept"], fontsize=8)
    bar.set_label("frequency bin", fontsize=8)
    return im
