"""Token feature maps as pictures: the first principal components of the channels shown as RGB."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..mixers import mixer_label
from .colours import mixer_colours


def pca_rgb(tokens: torch.Tensor) -> torch.Tensor:
    """Project token features on their first three principal components, scaled to ``[0, 1]``.

    Args:
        tokens: ``(h, w, C)`` features of one image (``C >= 3``).

    Returns:
        ``(h, w, 3)`` float tensor, each component min-max scaled.
    """
    if tokens.ndim != 3 or tokens.shape[-1] < 3:
        raise ValueError(f"tokens: expected shape (h, w, C) with C >= 3, got {tuple(tokens.shape)}")
    h, w, c = tokens.shape
    flat = tokens.detach().float().reshape(h * w, c)
    flat = flat - flat.mean(dim=0)
    # Principal directions from the SVD; fix each sign so the picture does not flip between runs.
    _, _, vh = torch.linalg.svd(flat, full_matrices=False)
    comps = flat @ vh[:3].T
    comps = comps * torch.sign(comps.sum(dim=0, keepdim=True) + 1e-12)
    lo, hi = comps.amin(dim=0), comps.amax(dim=0)
    return ((comps - lo) / (hi - lo).clamp_min(1e-12)).reshape(h, w, 3)


def plot_feature_maps(image: torch.Tensor, features: dict[str, torch.Tensor], title: str | None = None) -> Figure:
    """The input image beside a PCA-RGB picture of each model's token features.

    Args:
        image: ``(3, H, W)`` or ``(H, W)`` in ``[0, 1]``.
        features: name -> ``(h, w, C)`` tokens of that image.
    """
    fig, axes = plt.subplots(1, len(features) + 1, figsize=(2.6 * (len(features) + 1), 2.9), squeeze=False)
    axes = axes[0]
    shown = image.permute(1, 2, 0) if image.ndim == 3 else image
    axes[0].imshow(shown.detach().cpu().numpy(), cmap=None if image.ndim == 3 else "gray")
    axes[0].set_title("input")
    for ax, (name, tokens) in zip(axes[1:], features.items()):
        ax.imshow(pca_rgb(tokens.cpu()).numpy(), interpolation="nearest")
        colour = mixer_colours().get(name, "black")  # a registered mixer's title in its colour
        ax.set_title(f"{mixer_label(name) if name in mixer_colours() else name}\n{tokens.shape[0]}x{tokens.shape[1]} "
                     "tokens", fontsize=9, color=colour)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
