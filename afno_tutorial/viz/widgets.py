"""Interactive widgets: factories returning an ipywidgets container (explicit controls + ``interactive_output``).

Each factory draws with a figure function of :mod:`afno_tutorial.viz`; the returned container's ``controls``
attribute maps names to the control widgets (tests and notebooks set ``.value`` on them).
"""

from __future__ import annotations

from typing import Callable

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from matplotlib.figure import Figure

from .. import spectral


def _container(controls: dict[str, widgets.Widget], make_figure: Callable[..., Figure]) -> widgets.VBox:
    """Controls in a row above an output area redrawn with ``make_figure(**values)`` on every change.

    The last figure drawn is kept on ``box.figure`` (and the number of draws on ``box.draws``), so a headless
    test can set a control's ``.value`` and inspect what was drawn.
    """
    box = widgets.VBox()

    def draw(**values) -> None:
        fig = make_figure(**values)
        box.figure = fig
        box.draws += 1
        display(fig)
        plt.close(fig)  # displayed once; keeps pyplot from accumulating open figures

    box.draws = 0
    out = widgets.interactive_output(draw, controls)
    box.children = [widgets.HBox(list(controls.values())), out]
    box.controls = controls
    box.output = out
    return box


def truncation_widget(image: torch.Tensor, modes: int = 8) -> widgets.VBox:
    """A slider over ``m``: the image rebuilt from its lowest ``m`` modes, the error and the kept bins.

    Args:
        image: ``(H, W)`` real.
        modes: initial ``m`` (``1 <= m <= min(H, W)//2 + 1``).
    """
    from .spectra import plot_lowpass

    if image.ndim != 2:
        raise ValueError(f"image: expected (H, W), got shape {tuple(image.shape)}")
    top = min(spectral.max_modes(*image.shape))
    if not 1 <= modes <= top:
        raise ValueError(f"modes: expected 1 <= modes <= {top} for a {tuple(image.shape)} image, got {modes}")
    slider = widgets.IntSlider(value=modes, min=1, max=top, step=1, description="modes m",
                               continuous_update=False)
    return _container({"modes": slider}, lambda modes: plot_lowpass(image, modes))
