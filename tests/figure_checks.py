"""Checks of the figure standards shared by the viz tests: what a reader needs to read each panel."""

from __future__ import annotations

from matplotlib.figure import Figure


def plot_axes(fig: Figure) -> list:
    """The figure's panels, without the axes of colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def assert_readable(fig: Figure) -> None:
    """Every 2-D image has a colour bar with a label (its own, or one it shares its colour scale with); every line
    or bar panel has both axes labelled."""
    images = [image for ax in plot_axes(fig) for image in ax.images if image.get_array().ndim == 2]  # not RGB
    barred = [image for image in images if image.colorbar is not None]
    for image in barred:
        assert image.colorbar.ax.get_ylabel(), f"panel {image.axes.get_title()!r}: colour bar without a label"
    for image in images:
        assert image.colorbar is not None or any(image.norm is other.norm for other in barred), (
            f"panel {image.axes.get_title()!r}: image without a colour bar")
    for ax in plot_axes(fig):
        if (ax.lines or ax.patches or ax.collections) and not ax.images and ax.axison:
            named_ticks = any(_is_name(t.get_text()) for t in ax.get_xticklabels())  # bars labelled by name
            assert ax.get_xlabel() or named_ticks, f"panel {ax.get_title()!r}: no x label"
            assert ax.get_ylabel(), f"panel {ax.get_title()!r}: no y label"


def _is_name(text: str) -> bool:
    try:
        float(text.replace("\u2212", "-"))
    except ValueError:
        return bool(text.strip())
    return False
