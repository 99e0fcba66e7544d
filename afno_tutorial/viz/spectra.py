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
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .. import spectral
from ..lessons.truncation import apply_spectral_mask, lowpass, relative_error
from .panels import show_image, show_mask


def _rows_sorted(a: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(H, ...)`` in rfft2 row order -> rows in increasing ``k_y`` (fftshift along the first axis)."""
    arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return np.fft.fftshift(arr, axes=0)


def _freq_extent(height: int, width: int) -> list[float]:
    ky = np.fft.fftshift(np.fft.fftfreq(height, d=1.0 / height))
    return [-0.5, width // 2 + 0.5, ky[0] - 0.5, ky[-1] + 0.5]


def _show_mask(ax, mask: torch.Tensor, title: str, color: str = "tab:blue") -> None:
    height, half = mask.shape
    show_mask(ax, _rows_sorted(mask), _freq_extent(height, 2 * (half - 1)), color)
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

    # Left: full plane in increasing frequency order, each axis labelled as its stored bins are: the Nyquist row
    # at k_y = -H/2 (fftfreq's label, as in the right panel), the Nyquist column at k_x = +W/2 (rfft2's last column).
    fy = np.fft.fftshift(np.fft.fftfreq(height, d=1.0 / height)).round().astype(int)
    fx = np.arange(-((width - 1) // 2), width // 2 + 1)
    nyq_y = height // 2 if height % 2 == 0 else None
    nyq_x = width // 2 if width % 2 == 0 else None
    for y in fy:
        for x in fx:
            stored = x >= 0
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
                  f"gold = DC, orange = Nyquist ($k_y = -{height // 2}$ row, $k_x = +{width // 2}$ column)",
                  fontsize=10)

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
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    show_image(axes[0], image, "pixel value", vmin=0, vmax=1, title=title or "image")
    show_image(axes[1], _rows_sorted(mag), r"$\log_{10}|$coefficient$|$ (norm='ortho')", cmap="magma",
               axis_off=False, origin="lower", extent=_freq_extent(height, width), aspect="auto")
    axes[1].set_xlabel("$k_x$")
    axes[1].set_ylabel("$k_y$")
    axes[1].set_title(r"$\log_{10}|\mathrm{rfft2}|$: energy sits at low $|k|$", fontsize=10)
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
    fig, axes = plt.subplots(rows, 3, figsize=(13, 3.8 * rows), squeeze=False)
    total = height * (width // 2 + 1)
    for j, (impl, label, color) in enumerate(impls):
        mask = spectral.reference_kept_mask(height, width, fraction, impl)
        _show_mask(axes[0, j], mask, f"{label}\nfraction {fraction}: {int(mask.sum())}/{total} bins", color)
        if image is not None:
            if tuple(image.shape) != (height, width):
                raise ValueError(f"image: expected shape {(height, width)}, got {tuple(image.shape)}")
            rec = apply_spectral_mask(image, mask)
            show_image(axes[1, j], rec, "pixel value", title=f"image through this mask: rel. error "
                       f"{relative_error(rec, image):.2f}")
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
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    show_image(axes[0], image, "pixel value", vmin=0, vmax=1, title="original")
    show_image(axes[1], rec, "pixel value", vmin=0, vmax=1, title=f"lowest m={modes} modes")
    show_image(axes[2], err, "|error| (pixel value)", cmap="inferno", vmin=0, vmax=0.5,
               title=f"|error|, relative {relative_error(rec, image):.3f}")
    _show_mask(axes[3], mask, f"kept bins: {int(mask.sum())} of {mask.numel()}", "tab:green")
    fig.tight_layout()
    return fig


def plot_truncation_curve(curve: dict[str, list[float]]) -> Figure:
    """Relative error against kept modes ``m`` (from :func:`afno_tutorial.lessons.truncation.truncation_curve`)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(curve["modes"], curve["error"], "o-", label="relative error")
    ax.plot(curve["modes"], curve["kept_fraction"], "s--", label="fraction of rfft2 bins kept")
    ax.set_xlabel("kept modes m per axis")
    ax.set_ylabel("relative error; fraction of bins")
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
    """``log10`` power spectra ``(H, W//2 + 1)`` side by side on one shared colour scale (e.g. the token features
    entering each block), so that what changes from panel to panel is visible."""
    if len(spectra) != len(titles):
        raise ValueError(f"titles: expected {len(spectra)} titles, got {len(titles)}")
    logs = [spec.clamp_min(1e-12).log10() for spec in spectra]
    norm = Normalize(vmin=min(float(v.min()) for v in logs), vmax=max(float(v.max()) for v in logs))
    fig, axes = plt.subplots(1, len(spectra), figsize=(3.4 * len(spectra) + 1.0, 3.2), squeeze=False)
    for ax, log, title in zip(axes[0], logs, titles):
        height, half = log.shape
        im = ax.imshow(_rows_sorted(log), origin="lower", cmap="magma", aspect="auto", norm=norm,
                       extent=_freq_extent(height, 2 * (half - 1)), interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("$k_x$")
        ax.set_ylabel("$k_y$")
    bar = fig.colorbar(im, ax=list(axes[0]), fraction=0.02, pad=0.02)
    bar.set_label(r"$\log_{10}$ power (norm='ortho')", fontsize=9)
    return fig


def radial_profile(spectrum: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean of an ``(H, W//2 + 1)`` ``rfft2``-layout map over rings of integer ``|k| = round(sqrt(k_y^2 + k_x^2))``.

    Returns ``(|k| values, mean over each ring)``, up to the largest ring that is complete (``min(H, W) // 2``).
    """
    height, half = spectrum.shape
    ky, kx = spectral.frequency_grid(height, 2 * (half - 1))
    radius = torch.sqrt(ky.double() ** 2 + kx.double() ** 2).round().long()
    top = min(height, 2 * (half - 1)) // 2
    values = spectrum.detach().double().cpu()
    ks = np.arange(top + 1)
    means = np.array([float(values[radius == k].mean()) for k in ks])
    return ks, means


def plot_radial_spectra(spectra: Sequence[torch.Tensor], labels: Sequence[str]) -> Figure:
    """Radially averaged power against ``|k|`` (log scale), one line per spectrum: left the power itself, right each
    spectrum divided by the first, which shows how the balance of frequencies changes from the first to the last."""
    if len(spectra) != len(labels) or not spectra:
        raise ValueError(f"labels: expected {len(spectra)} labels for the spectra, got {len(labels)}")
    profiles = [radial_profile(s) for s in spectra]
    colours = plt.cm.viridis(np.linspace(0.1, 0.85, len(spectra)))
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.8))
    for (ks, power), label, colour in zip(profiles, labels, colours):
        ax0.semilogy(ks, power, "o-", ms=3, color=colour, label=label)
        ax1.semilogy(ks, power / profiles[0][1], "o-", ms=3, color=colour, label=label)
    ax0.set_xlabel("$|k|$ (ring of the spectrum)")
    ax0.set_ylabel("mean power on the ring")
    ax0.set_title("power spectrum, radially averaged", fontsize=10)
    ax1.set_xlabel("$|k|$ (ring of the spectrum)")
    ax1.set_ylabel(f"power / power of {labels[0]}")
    ax1.set_title("relative to the first: above 1 = more of that frequency", fontsize=10)
    for ax in (ax0, ax1):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
