"""Pictures of the ``rfft2`` layout, kept sets, spectra and truncated reconstructions (each returns a Figure).

Convention in every frequency plot here: the vertical axis is ``k_y`` in increasing order (negative at the bottom,
the DC row in the middle), the horizontal axis is ``k_x >= 0``; that is the ``rfft2`` array with its rows
``fftshift``-ed, so "low frequency" always means "near the bottom-left centre".
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import spectral
from ..lessons.truncation import apply_spectral_mask, lowpass, relative_error


def _rows_sorted(a: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(H, ...)`` in rfft2 row order -> rows in increasing ``k_y`` (fftshift along the first axis)."""
    arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return np.fft.fftshift(arr, axes=0)


def _freq_extent(height: int, width: int) -> list[float]:
    ky = np.fft.fftshift(np.fft.fftfreq(height, d=1.0 / height))
    return [-0.5, width // 2 + 0.5, ky[0] - 0.5, ky[-1] + 0.5]


def _show_mask(ax, mask: torch.Tensor, title: str, color: str = "tab:blue") -> None:
    height, half = mask.shape
    width = 2 * (half - 1)
    cmap = ListedColormap(["#f2f2f2", color])
    ax.imshow(_rows_sorted(mask.float()), origin="lower", cmap=cmap, vmin=0, vmax=1,
              extent=_freq_extent(height, width), aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("$k_x$")
    ax.set_ylabel("$k_y$")
    ax.plot([0], [0], marker="*", color="gold", markersize=10, markeredgecolor="k")  # the DC bin


def plot_rfft2_layout(height: int = 8, width: int = 8) -> Figure:
    """Two views of the ``rfft2`` of a real ``(H, W)`` grid.

    Left: the full ``fft2`` plane (``k_x`` of both signs); the stored half ``k_x >= 0`` is coloured, the other
    half is the complex conjugate of a stored bin (Hermitian symmetry ``X[-k] = conj(X[k])``); arrows join a bin to
    its twin. Right: the stored ``(H, W//2 + 1)`` array in memory order, each cell labelled with its ``k_y``, so
    the negative ``k_y`` sit in the bottom half of the array.
    """
    if height < 2 or width < 2:
        raise ValueError(f"height, width: expected at least 2, got {(height, width)}")
    ky, kx = spectral.frequency_grid(height, width)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.6, 1]})

    # Left: full plane in increasing frequency order.
    fy = np.fft.fftshift(np.fft.fftfreq(height, d=1.0 / height)).astype(int)
    fx = np.fft.fftshift(np.fft.fftfreq(width, d=1.0 / width)).astype(int)
    nyq_y = height // 2 if height % 2 == 0 else None
    nyq_x = width // 2 if width % 2 == 0 else None
    for y in fy:
        for x in fx:
            stored = x >= 0 or (nyq_x is not None and x == -nyq_x)
            nyquist = (nyq_y is not None and abs(y) == nyq_y) or (nyq_x is not None and abs(x) == nyq_x)
            face = "#9ecae1" if stored else "#eeeeee"
            if y == 0 and x == 0:
                face = "gold"
            elif nyquist:
                face = "#fdae6b" if stored else "#fde0c5"
            ax0.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=face, edgecolor="white"))
    ax0.set_xlim(fx[0] - 0.5, fx[-1] + 0.5)
    ax0.set_ylim(fy[0] - 0.5, fy[-1] + 0.5)
    ax0.set_aspect("equal")
    ax0.set_xlabel("$k_x$")
    ax0.set_ylabel("$k_y$")
    # One Hermitian pair, drawn as an arrow from a stored bin to its conjugate twin.
    py, px = min(2, height // 2 - 1) if height > 3 else 1, min(1, width // 2)
    ax0.annotate("", xy=(-px, -py), xytext=(px, py),
                 arrowprops={"arrowstyle": "<->", "color": "k", "lw": 1.2})
    ax0.text(px + 0.1, py + 0.25, "$X[k]$", fontsize=9)
    ax0.text(-px - 1.3, -py - 0.6, r"$\overline{X[k]}$", fontsize=9)
    ax0.set_title("full fft2 plane: blue = stored by rfft2, grey = conjugate twins\n"
                  "gold = DC, orange = Nyquist (its own twin)", fontsize=10)

    # Right: the stored array in memory order.
    half = width // 2 + 1
    for r in range(height):
        for c in range(half):
            k_y, k_x = int(ky[r, c]), int(kx[r, c])
            nyquist = (nyq_y is not None and abs(k_y) == nyq_y) or (nyq_x is not None and k_x == nyq_x)
            face = "gold" if (k_y == 0 and k_x == 0) else ("#fdae6b" if nyquist else "#9ecae1")
            if k_y < 0 and face == "#9ecae1":
                face = "#6baed6"
            ax1.add_patch(Rectangle((c, height - 1 - r), 1, 1, facecolor=face, edgecolor="white"))
            ax1.text(c + 0.5, height - 0.5 - r, f"{k_y:+d}" if k_y else "0", ha="center", va="center", fontsize=8)
    ax1.set_xlim(0, half)
    ax1.set_ylim(0, height)
    ax1.set_aspect("equal")
    ax1.set_xticks(np.arange(half) + 0.5, [str(c) for c in range(half)])
    ax1.set_yticks(np.arange(height) + 0.5, [str(r) for r in reversed(range(height))])
    ax1.set_xlabel("column $c$ ($k_x = c$)")
    ax1.set_ylabel("row $r$ (cell text: $k_y$)")
    ax1.set_title(f"rfft2 array as stored: shape ({height}, {half})\nrows $r > H/2$ hold negative $k_y$", fontsize=10)
    fig.tight_layout()
    return fig


def plot_log_spectrum(image: torch.Tensor, title: str = "") -> Figure:
    """``log10 |rfft2(image)|`` of ``image: (H, W)`` in increasing-frequency order (low frequencies at ``k_y = 0``)."""
    if image.ndim != 2:
        raise ValueError(f"image: expected (H, W), got shape {tuple(image.shape)}")
    height, width = image.shape
    mag = torch.fft.rfft2(image, norm="ortho").abs().clamp_min(1e-8).log10()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    axes[0].imshow(image.cpu().numpy(), cmap="gray")
    axes[0].set_title(title or "image")
    axes[0].axis("off")
    im = axes[1].imshow(_rows_sorted(mag), origin="lower", extent=_freq_extent(height, width), aspect="auto",
                        cmap="magma")
    axes[1].set_xlabel("$k_x$")
    axes[1].set_ylabel("$k_y$")
    axes[1].set_title(r"$\log_{10}|\mathrm{rfft2}|$: energy sits at low $|k|$")
    fig.colorbar(im, ax=axes[1])
    fig.tight_layout()
    return fig


def plot_kept_sets(
    height: int, width: int, fraction: float, image: torch.Tensor | None = None
) -> Figure:
    """The kept set of this library beside what the reference implementations keep for the same fraction.

    Top row: the masks in increasing-frequency order, with the number of kept bins. Bottom row (if ``image:
    (H, W)`` is given): the image filtered by each mask, with its relative error; a correct low-pass keeps the
    shapes, a wrong one keeps everything or only fine texture.
    """
    impls = [("afno_tutorial", "this library: lowest $|k_y|$ both signs", "tab:green"),
             ("nvlabs", "NVlabs AFNO: W axis, N//2+1 columns", "tab:red"),
             ("fourcastnet", "FourCastNet: rows around H/2", "tab:red")]
    rows = 2 if image is not None else 1
    fig, axes = plt.subplots(rows, 3, figsize=(12, 3.8 * rows), squeeze=False)
    total = height * (width // 2 + 1)
    for j, (impl, label, color) in enumerate(impls):
        mask = spectral.reference_kept_mask(height, width, fraction, impl)
        _show_mask(axes[0, j], mask, f"{label}\nfraction {fraction}: {int(mask.sum())}/{total} bins", color)
        if image is not None:
            if tuple(image.shape) != (height, width):
                raise ValueError(f"image: expected shape {(height, width)}, got {tuple(image.shape)}")
            rec = apply_spectral_mask(image, mask)
            axes[1, j].imshow(rec.cpu().numpy(), cmap="gray")
            axes[1, j].set_title(f"image through this mask: rel. error {relative_error(rec, image):.2f}",
                                 fontsize=10)
            axes[1, j].axis("off")
    fig.tight_layout()
    return fig


def plot_lowpass(image: torch.Tensor, modes: int) -> Figure:
    """Original, its reconstruction from the lowest ``modes`` (``|k_y| < m``, ``k_x < m``), the error, and the mask."""
    if image.ndim != 2:
        raise ValueError(f"image: expected (H, W), got shape {tuple(image.shape)}")
    height, width = image.shape
    rec = lowpass(image, modes)
    err = (rec - image).abs()
    mask = spectral.kept_mode_mask(height, width, (modes, modes))
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    axes[0].imshow(image.cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("original")
    axes[1].imshow(rec.cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(f"lowest m={modes} modes")
    axes[2].imshow(err.cpu().numpy(), cmap="inferno", vmin=0, vmax=0.5)
    axes[2].set_title(f"|error|, relative {relative_error(rec, image):.3f}")
    for ax in axes[:3]:
        ax.axis("off")
    _show_mask(axes[3], mask, f"kept bins: {int(mask.sum())} of {mask.numel()}", "tab:green")
    fig.tight_layout()
    return fig


def plot_truncation_curve(curve: dict[str, list[float]]) -> Figure:
    """Relative error against kept modes ``m`` (from :func:`afno_tutorial.lessons.truncation.truncation_curve`)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(curve["modes"], curve["error"], "o-", label="relative error")
    ax.plot(curve["modes"], curve["kept_fraction"], "s--", label="fraction of rfft2 bins kept")
    ax.set_xlabel("kept modes m per axis")
    ax.set_xscale("log", base=2)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_norm_scaling(table: dict[str, list[float]]) -> Figure:
    """Magnitude of one Fourier coefficient of the same function sampled at growing resolutions, per ``norm``.

    ``table`` from :func:`afno_tutorial.lessons.resolution.norm_scaling`.
    """
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sizes = table["size"]
    for norm in ("backward", "ortho", "forward"):
        if norm in table:
            ax.loglog(sizes, table[norm], "o-", base=2, label=f'norm="{norm}"')
    ax.set_xlabel("grid side N (N x N samples of the same function)")
    ax.set_ylabel("|coefficient| of one fixed frequency")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def plot_power_spectra(spectra: Sequence[torch.Tensor], titles: Sequence[str]) -> Figure:
    """``log10`` power spectra ``(H, W//2 + 1)`` side by side (e.g. token features after each block)."""
    if len(spectra) != len(titles):
        raise ValueError(f"titles: expected {len(spectra)} titles, got {len(titles)}")
    fig, axes = plt.subplots(1, len(spectra), figsize=(3.4 * len(spectra), 3.2), squeeze=False)
    for ax, spec, title in zip(axes[0], spectra, titles):
        height, half = spec.shape
        ax.imshow(_rows_sorted(spec.clamp_min(1e-12).log10()), origin="lower", cmap="magma", aspect="auto",
                  extent=_freq_extent(height, 2 * (half - 1)))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("$k_x$")
        ax.set_ylabel("$k_y$")
    fig.tight_layout()
    return fig
