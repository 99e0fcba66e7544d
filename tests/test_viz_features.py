from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from afno_tutorial.viz.features import pca_rgb, plot_feature_maps


def test_pca_rgb_recovers_a_planted_direction():
    # Tokens varying along one channel direction: the first component is that variation.
    ramp = torch.linspace(0, 1, 8)
    tokens = torch.zeros(8, 8, 5)
    tokens[..., 2] = ramp[:, None] * 10
    tokens += 0.01 * torch.randn(8, 8, 5, generator=torch.Generator().manual_seed(0))
    rgb = pca_rgb(tokens)
    assert rgb.shape == (8, 8, 3) and rgb.min() >= 0 and rgb.max() <= 1
    first = rgb[..., 0].mean(dim=1)
    assert torch.corrcoef(torch.stack([first, ramp]))[0, 1].abs() > 0.99


def test_pca_rgb_rejects_too_few_channels():
    with pytest.raises(ValueError, match=r"tokens: expected shape \(h, w, C\) with C >= 3"):
        pca_rgb(torch.randn(4, 4, 2))


def test_plot_feature_maps_has_one_panel_per_model():
    fig = plot_feature_maps(torch.rand(3, 16, 16), {"a": torch.randn(4, 4, 8), "b": torch.randn(4, 4, 8)})
    assert len(fig.axes) == 3
    assert fig.axes[1].get_title().startswith("a")
