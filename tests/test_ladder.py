import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from afno_tutorial import AFNO2d, SpectralConv2d, spectral
from afno_tutorial.flops import mixer_flops
from afno_tutorial.lessons.ladder import (
    build_rung_model,
    counted_matmul_flops,
    fno_max_modes,
    hilbert_transform,
    ladder_markdown,
    ladder_rungs,
    measure_mixer,
    nonadaptive_decomposition,
    run_ladder,
)
from afno_tutorial.viz.ladder import plot_ladder, plot_nonadaptive_demo


def test_rungs_build_the_documented_mixers():
    rungs = ladder_rungs(num_blocks=4, fraction=0.5)
    mixers = [r.build_mixer(16, (8, 8)) for r in rungs]
    assert [r.number for r in rungs] == [1, 2, 3, 4, 5, 6]
    assert isinstance(mixers[0], SpectralConv2d) and mixers[0].num_blocks == 1 and mixers[0].modes == (4, 5)
    assert isinstance(mixers[1], SpectralConv2d) and mixers[1].num_blocks == 4
    assert all(isinstance(m, AFNO2d) for m in mixers[2:])
    assert mixers[2].mlp_layers == 1 and mixers[2].b1 is None and mixers[2].sparsity_threshold == 0
    assert mixers[3].mlp_layers == 2 and mixers[3].sparsity_threshold == 0 and mixers[3].b1 is not None
    assert mixers[4].sparsity_threshold == 0.01 and mixers[4].hard_thresholding_fraction == 1
    assert mixers[5].kept_modes(8, 8) == (2, 2)
    # Parameters: per-mode weights grow with the kept set, shared weights do not.
    p = [sum(t.numel() for t in m.parameters()) for m in mixers]
    assert p[0] == 2 * 7 * 5 * 16 * 16 and p[1] == p[0] // 4
    assert p[2] == 2 * 4 * 4 * 4 and p[3] == p[4] == p[5] == 4 * 16 * 16 // 4 + 2 * 16 + 2 * 16
    with pytest.raises(ValueError, match="hard_thresholding_fraction"):
        ladder_rungs(fraction=1.5)


def test_fno_max_modes_fit_the_grid():
    for grid in [(8, 8), (7, 10), (16, 16)]:
        modes = fno_max_modes(grid)
        spectral.check_modes_fit(modes, *grid, allow_nyquist_row=False)
        with pytest.raises(ValueError):
            spectral.check_modes_fit((modes[0] + 1, modes[1]), *grid, allow_nyquist_row=False)


def test_nonadaptive_mixer_is_pointwise_plus_hilbert():
    torch.manual_seed(0)
    mixer = ladder_rungs(num_blocks=2)[2].build_mixer(8, (6, 10)).double()
    x = torch.randn(2, 6, 10, 8, dtype=torch.float64)
    d = nonadaptive_decomposition(mixer, x)
    assert d["mixer"].abs().max() > 1e-3
    torch.testing.assert_close(d["mixer"], d["pointwise"])
    with pytest.raises(ValueError, match="mlp_layers=1"):
        nonadaptive_decomposition(ladder_rungs(num_blocks=2)[3].build_mixer(8, (6, 10)).double(), x)
    # Rung 3 is linear in x; rung 4's ReLU makes it not (so no such identity can hold there).
    adaptive = AFNO2d(8, num_blocks=2, sparsity_threshold=0.0, bias=False).double()
    torch.testing.assert_close(mixer(3 * x), 3 * mixer(x))
    assert not torch.allclose(adaptive(-x), -adaptive(x))


def test_hilbert_transform_properties():
    torch.manual_seed(1)
    x = torch.randn(1, 8, 12, 3, dtype=torch.float64)
    hx = hilbert_transform(x)
    # Applying it twice gives -x on every k_x > 0 column, and 0 on the real-only columns.
    z_hhx = torch.fft.rfft2(hilbert_transform(hx).permute(0, 3, 1, 2))
    z_x = torch.fft.rfft2(x.permute(0, 3, 1, 2))
    torch.testing.assert_close(z_hhx[..., 1:6], -z_x[..., 1:6])
    assert z_hhx[..., [0, 6]].abs().max() < 1e-10
    # It commutes with circular shifts (fixed linear filter).
    torch.testing.assert_close(hilbert_transform(torch.roll(x, 3, 2)), torch.roll(hx, 3, 2))


def test_measure_mixer_matches_flop_library():
    mixer = AFNO2d(16, num_blocks=4)
    row = measure_mixer(mixer, (8, 8), repeats=1)
    assert row["params"] == sum(p.numel() for p in mixer.parameters())
    assert row["flops"] == mixer_flops(mixer, (8, 8))["total"]
    assert row["mixing_flops"] == 4 * row["counter_flops"]
    # Peak memory at least holds the (1, 8, 8, 16) float32 output.
    assert row["peak_mb"] * 2**20 >= 8 * 8 * 16 * 4 and row["forward_ms"] > 0
    assert counted_matmul_flops(mixer, torch.randn(1, 8, 8, 16)) == row["counter_flops"]


def test_run_ladder_tiny_and_outputs():
    torch.manual_seed(0)
    train, test = torch.rand(8, 3, 16, 16), torch.rand(4, 3, 16, 16)
    rungs = ladder_rungs(num_blocks=2)
    rows = run_ladder([rungs[0], rungs[5]], train, test, dim=8, depth=1, patch_size=4, steps=2, batch_size=4,
                      measure_grid=(8, 8), progress=False)
    assert [r["number"] for r in rows] == [1, 6] and len(rows[0]["loss"]) == 2
    assert rows[0]["params"] > rows[1]["params"] and all(r["psnr"] > 0 for r in rows)
    table = ladder_markdown(rows, (8, 8))
    assert table.count("\n") == 3 and "| 6 |" in table
    fig = plot_ladder(rows, (8, 8))
    assert len(fig.axes) == 6 and "PSNR" in fig.axes[4].get_title()
    model = build_rung_model(rungs[0], dim=8, depth=2, img_size=16, patch_size=4)
    assert model.backbone.blocks[1].mixer.modes == (2, 3)


def test_nonadaptive_demo_figure():
    mixer = ladder_rungs(num_blocks=2)[2].build_mixer(8, (6, 6)).double()
    d = nonadaptive_decomposition(mixer, torch.randn(1, 6, 6, 8, dtype=torch.float64))
    fig = plot_nonadaptive_demo(d, size=8)
    assert any("max |diff|" in ax.get_title() for ax in fig.axes)
