import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from figure_checks import assert_readable

from afno_tutorial import AFNO2d, SpectralConv2d, spectral
from afno_tutorial.flops import mixer_flops
from afno_tutorial.lessons.ladder import (
    INIT_STD,
    build_rung_model,
    counted_matmul_flops,
    fno_max_modes,
    hilbert_transform,
    kept_projection,
    ladder_markdown,
    ladder_rungs,
    measure_mixer,
    nonadaptive_decomposition,
    run_ladder,
    rung_steps,
)
from afno_tutorial.viz.ladder import plot_ladder, plot_nonadaptive_demo


def test_rungs_build_the_documented_mixers():
    rungs = ladder_rungs(num_blocks=4, modes=(2, 3))
    mixers = [r.build_mixer(16, (8, 8)) for r in rungs]
    assert [r.number for r in rungs] == [1, 2, 3, 4, 5, 6]
    assert isinstance(mixers[0], SpectralConv2d) and mixers[0].num_blocks == 1 and mixers[0].modes == (2, 3)
    assert isinstance(mixers[1], SpectralConv2d) and mixers[1].num_blocks == 4 and mixers[1].modes == (2, 3)
    assert all(isinstance(m, AFNO2d) for m in mixers[2:])
    assert mixers[2].mlp_layers == 1 and mixers[2].b1 is None and mixers[2].sparsity_threshold == 0
    assert mixers[2].kept_modes(8, 8) == (2, 3) and mixers[3].kept_modes(8, 8) == spectral.max_modes(8, 8)
    assert mixers[3].mlp_layers == 1 and mixers[3].b1 is None
    assert mixers[4].mlp_layers == 2 and mixers[4].sparsity_threshold == 0 and mixers[4].b1 is not None
    assert mixers[5].sparsity_threshold == 0.01 and mixers[5].hard_thresholding_fraction == 1
    # The last rung is AFNO2d with its defaults (num_blocks 8, lambda 0.01, every mode).
    default = ladder_rungs()[5].build_mixer(64, (8, 8))
    assert default.extra_repr() == AFNO2d(64).extra_repr()
    # Parameters: per-mode weights grow with the kept set, shared weights do not.
    p = [sum(t.numel() for t in m.parameters()) for m in mixers]
    assert p[0] == 2 * 3 * 3 * 16 * 16 and p[1] == p[0] // 4
    assert p[2] == p[3] == 2 * 4 * 4 * 4 and p[4] == p[5] == 4 * 16 * 16 // 4 + 2 * 16 + 2 * 16
    # FNO's modes are capped to what a small grid holds.
    assert ladder_rungs(modes=(8, 8))[0].build_mixer(16, (6, 6)).modes == fno_max_modes((6, 6))
    with pytest.raises(ValueError, match="sparsity_threshold"):
        ladder_rungs(sparsity_threshold=0)


def test_every_rung_starts_from_afnos_initialisation():
    torch.manual_seed(0)
    rungs = ladder_rungs(num_blocks=4, modes=(4, 4))
    fno = rungs[0].build_mixer(32, (16, 16))
    assert abs(fno.weight.std().item() - INIT_STD) < 0.1 * INIT_STD
    assert abs(SpectralConv2d(32, modes=(4, 4)).weight.std().item() - INIT_STD) > INIT_STD  # its own default
    model = build_rung_model(rungs[1], dim=32, depth=2, img_size=32, patch_size=4)
    assert all(abs(b.mixer.weight.std().item() - INIT_STD) < 0.1 * INIT_STD for b in model.backbone.blocks)
    kept = build_rung_model(rungs[1], dim=32, depth=1, img_size=32, patch_size=4, afno_init=False)
    assert abs(kept.backbone.blocks[0].mixer.weight.std().item() - INIT_STD) > INIT_STD


def test_fno_max_modes_fit_the_grid():
    for grid in [(8, 8), (7, 10), (16, 16)]:
        modes = fno_max_modes(grid)
        spectral.check_modes_fit(modes, *grid, allow_nyquist_row=False)
        with pytest.raises(ValueError):
            spectral.check_modes_fit((modes[0] + 1, modes[1]), *grid, allow_nyquist_row=False)


def test_nonadaptive_mixer_is_pointwise_plus_hilbert():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 10, 8, dtype=torch.float64)
    for rung in ladder_rungs(num_blocks=2, modes=(2, 3))[2:4]:  # truncated (rung 3) and every mode (rung 4)
        mixer = rung.build_mixer(8, (6, 10)).double()
        d = nonadaptive_decomposition(mixer, x)
        assert d["mixer"].abs().max() > 1e-3
        torch.testing.assert_close(d["mixer"], d["pointwise"])
    # The projection onto the kept set keeps exactly those bins.
    low = kept_projection(x, (2, 3))
    z = torch.fft.rfft2(low.permute(0, 3, 1, 2))
    torch.testing.assert_close(z * spectral.kept_mode_mask(6, 10, (2, 3)), z)
    torch.testing.assert_close(kept_projection(x, spectral.max_modes(6, 10)), x)
    with pytest.raises(ValueError, match="mlp_layers=1"):
        nonadaptive_decomposition(ladder_rungs(num_blocks=2)[4].build_mixer(8, (6, 10)).double(), x)
    # Rung 4 is linear in x; rung 5's ReLU makes it not (so no such identity can hold there).
    mixer = ladder_rungs(num_blocks=2)[3].build_mixer(8, (6, 10)).double()
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
    rungs = ladder_rungs(num_blocks=2, modes=(2, 2))
    rows = run_ladder([rungs[0], rungs[5]], train, test, dim=8, depth=1, patch_size=4, steps=2, batch_size=4,
                      seeds=(0, 1), measure_grids=((4, 4), (8, 8)), progress=False)
    assert [r["number"] for r in rows] == [1, 6] and len(rows[0]["loss"]) == 2
    assert all(len(r["psnr"]) == 2 and r["psnr_std"] >= 0 for r in rows)
    assert rows[0]["costs"][(4, 4)]["params"] == rows[0]["costs"][(8, 8)]["params"]
    assert rows[1]["costs"][(8, 8)]["flops"] > rows[1]["costs"][(4, 4)]["flops"]
    table = ladder_markdown(rows)
    assert sum(line.startswith("| ") for line in table.splitlines()) == 3 and "at 8x8" in table and " ± " in table
    fig = plot_ladder(rows)
    assert "seeds" in fig.axes[4].get_title()
    assert_readable(fig)
    # The same seed gives the same run; another seed another one.
    again = run_ladder([rungs[0]], train, test, dim=8, depth=1, patch_size=4, steps=2, batch_size=4, seeds=(1, 0),
                       measure_grids=((4, 4),), progress=False)
    assert again[0]["psnr"] == rows[0]["psnr"][::-1] and rows[0]["psnr"][0] != rows[0]["psnr"][1]
    model = build_rung_model(rungs[0], dim=8, depth=2, img_size=16, patch_size=4)
    assert model.backbone.blocks[1].mixer.modes == (2, 2)


def test_rung_steps_pair_seeds_and_tell_changes_from_noise():
    row = lambda n, psnr: {"number": n, "change": f"c{n}", "seeds": [0, 1, 2], "psnr": psnr}  # noqa: E731
    steps = rung_steps([row(1, [10.0, 11.0, 12.0]), row(2, [10.5, 11.4, 12.6]), row(3, [10.0, 12.0, 12.4])])
    assert [s["number"] for s in steps] == [2, 3]
    # Rung 2 gains 0.4-0.6 dB on every seed although the seeds spread by 2 dB: paired, that is measurable.
    assert steps[0]["delta"] == pytest.approx([0.5, 0.4, 0.6]) and steps[0]["measurable"]
    assert steps[0]["std"] == pytest.approx(0.1)
    # Rung 3 moves the seeds in both directions: not measurable.
    assert not steps[1]["measurable"]
    with pytest.raises(ValueError, match="same seeds"):
        rung_steps([row(1, [1.0, 2.0, 3.0]), {**row(2, [1.0, 2.0]), "seeds": [0, 1]}])
def test_nonadaptive_demo_figure():
    mixer = ladder_rungs(num_blocks=2)[3].build_mixer(8, (6, 6)).double()
    d = nonadaptive_decomposition(mixer, torch.randn(1, 6, 6, 8, dtype=torch.float64))
    fig = plot_nonadaptive_demo(d, size=8)
    assert any("max |diff|" in ax.get_title() for ax in fig.axes)
    assert_readable(fig)
