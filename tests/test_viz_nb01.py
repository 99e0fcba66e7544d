"""Figures and widgets used by notebook 01: they draw what they claim to, and widgets redraw on change."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from figure_checks import assert_readable, plot_axes
from matplotlib.figure import Figure

from afno_tutorial.lessons.images import load_image
from afno_tutorial.viz import convolution as vconv
from afno_tutorial.viz import spectra, widgets


def test_layout_and_kept_set_figures():
    fig = spectra.plot_rfft2_layout(6, 8)
    assert isinstance(fig, Figure)
    # The stored-array panel has one labelled cell per bin of the (6, 5) rfft2.
    assert len(fig.axes[1].texts) == 6 * 5
    # Both panels put the Nyquist row at k_y = -3 and the Nyquist column at k_x = +4, as the stored array does.
    assert "$k_y = -3$ row, $k_x = +4$ column" in fig.axes[0].get_title()
    assert fig.axes[0].get_xlim() == (-3.5, 4.5) and fig.axes[0].get_ylim() == (-3.5, 2.5)
    img = load_image("camera", 32)
    fig = spectra.plot_kept_sets(32, 32, 0.5, img)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("rel. error" in t for t in titles) and len(plot_axes(fig)) == 6
    assert_readable(fig)
    assert_readable(spectra.plot_lowpass(img, 4))
    assert_readable(spectra.plot_log_spectrum(img))
    assert_readable(spectra.plot_truncation_curve({"modes": [1, 2], "error": [0.5, 0.2], "kept_fraction": [0, 1]}))
    with pytest.raises(ValueError, match="image: expected shape"):
        spectra.plot_kept_sets(16, 16, 0.5, img)


def test_convolution_figures():
    img = load_image("camera", 32)
    fig = vconv.plot_convolution_theorem(img, torch.ones(3, 3) / 9)
    assert "max" in fig.axes[4].get_title()
    assert_readable(fig)
    t = {"kernel_size": [1.0, 3.0], "direct": [1e-4, 2e-3], "fft": [1e-3, 1e-3]}
    fig = vconv.plot_convolution_timing(t, (32, 32), "CPU")
    assert "FFT faster from K = 3" in [x.get_text() for x in fig.axes[0].get_legend().get_texts()]
    assert_readable(fig)
    t["fft"] = [1.0, 1.0]  # never faster: the legend says so instead of naming a size
    fig = vconv.plot_convolution_timing(t, (32, 32), "CPU")
    assert "no crossover in the measured range" in [x.get_text() for x in fig.axes[0].get_legend().get_texts()]


def test_truncation_widget_redraws_on_value_change():
    img = load_image("camera", 32)
    box = widgets.truncation_widget(img, modes=2)
    assert box.draws == 1
    first = box.figure.axes[1].get_title()
    box.controls["modes"].value = 9
    assert box.draws == 2 and box.figure.axes[1].get_title() != first
    assert "m=9" in box.figure.axes[1].get_title()
    with pytest.raises(ValueError, match="modes: expected"):
        widgets.truncation_widget(img, modes=100)
