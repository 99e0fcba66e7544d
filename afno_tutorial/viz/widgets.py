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


def lambda_widget(mixer, x: torch.Tensor, lam: float = 0.01) -> widgets.VBox:
    """A log slider over AFNO's ``lambda``: surviving modes and the mixer's contribution for one image.

    Args:
        mixer: a trained :class:`afno_tutorial.AFNO2d`.
        x: ``(B, H, W, C)`` tokens entering it (the map of the mixing part shows the first image).
        lam: initial ``lambda`` (between 1e-4 and 10).
    """
    from ..lessons.sparsity import mixer_output, surviving_fraction_map, zeroed_fraction
    from .mixing import plot_lambda_effect

    if not 1e-4 <= lam <= 10:
        raise ValueError(f"lam: expected a value in [1e-4, 10], got {lam}")
    slider = widgets.FloatLogSlider(value=lam, base=10, min=-4, max=1, step=0.25, description="lambda",
                                    continuous_update=False)

    def make(lam: float) -> Figure:
        survival = surviving_fraction_map(mixer, x, lam)
        out = mixer_output(mixer, x[:1], lam)
        mixing = (out - x[:1] if mixer.inner_skip else out)[0].norm(dim=-1)  # what the mixer adds
        return plot_lambda_effect(survival, mixing, lam, zeroed_fraction(mixer, x, [lam])[0])

    return _container({"lam": slider}, make)


def jacobian_widget(mixers: dict, inputs: dict[str, torch.Tensor], token: tuple[int, int] = (8, 8),
                    image: torch.Tensor | None = None) -> widgets.VBox:
    """Row/column sliders choosing an output token; one Jacobian map per mixer.

    Args:
        mixers: name -> mixer module.
        inputs: name -> ``(1, H, W, C)`` tokens entering that mixer (all the same ``H, W``).
        token: initial ``(i, j)``.
        image: optional image shown beside the maps.
    """
    from ..lessons.jacobian import token_jacobian_map
    from ..lessons.probes import mixing_part
    from .mixing import plot_jacobian_maps

    height, width = next(iter(inputs.values())).shape[1:3]
    if not (0 <= token[0] < height and 0 <= token[1] < width):
        raise ValueError(f"token: expected a position inside the {height}x{width} grid, got {token}")
    row = widgets.IntSlider(value=token[0], min=0, max=height - 1, description="row i", continuous_update=False)
    col = widgets.IntSlider(value=token[1], min=0, max=width - 1, description="column j", continuous_update=False)

    def make(i: int, j: int) -> Figure:
        maps = {name: token_jacobian_map(lambda t, m=m: mixing_part(m, t), inputs[name], (i, j))
                for name, m in mixers.items()}
        return plot_jacobian_maps(maps, (i, j), image)

    return _container({"i": row, "j": col}, make)
