"""The operator profile: every kind of work is accounted for and lands where it belongs (no timing asserts)."""

from __future__ import annotations

import json

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from afno_tutorial import AFNO2d, SelfAttention2d  # noqa: E402
from afno_tutorial.bench import CopyFloor, target_checks  # noqa: E402
from afno_tutorial.bench.cli import main  # noqa: E402
from afno_tutorial.bench.profile import (  # noqa: E402
    KINDS,
    check_profile_device,
    format_profile,
    kernel_seconds,
    op_kind,
    profile_step,
)
from afno_tutorial.viz.scaling import plot_profile  # noqa: E402


def _forward(module: torch.nn.Module, x: torch.Tensor):
    def step() -> None:
        with torch.no_grad():
            module(x)

    return step


def test_op_kinds() -> None:
    assert op_kind("aten::_fft_r2c") == "FFT, real to complex"
    assert op_kind("aten::baddbmm") == "matrix products"
    assert op_kind("aten::copy_") == "copies and fills"
    assert op_kind("aten::relu_") == "element-wise and other ops"
    assert op_kind("_AFNOTiled") == "Python and dispatch"
    assert op_kind("scipy.fft.rfft") == "FFT, real to complex" and op_kind("scipy.fft.irfft") == "FFT, complex to real"
    assert op_kind("scipy.fft.fft") == op_kind("scipy.fft.ifft") == "FFT, complex"
    assert op_kind("scipy.fft.something_else") == "Python and dispatch"


def test_afno_profile_has_ffts_and_matmuls_and_adds_up() -> None:
    torch.manual_seed(0)
    profile = profile_step(_forward(AFNO2d(32, num_blocks=4), torch.randn(1, 16, 16, 32)), runs=2)
    kinds = profile["kinds"]
    assert list(kinds) == list(KINDS) and all(v >= 0 for v in kinds.values())
    assert sum(kinds.values()) == pytest.approx(profile["wall_s"], rel=1e-6)
    for kind in ("FFT, real to complex", "FFT, complex to real", "matrix products"):
        assert kinds[kind] > 0, kind
    assert any(name.startswith("aten::_fft") for name in profile["ops"])
    assert 0 < kernel_seconds(kinds) < profile["wall_s"]


def test_pocketfft_path_profile_counts_scipy_transforms_as_ffts() -> None:
    torch.manual_seed(0)
    mixer = AFNO2d(32, num_blocks=4, hard_thresholding_fraction=0.5, path="pocketfft")
    profile = profile_step(_forward(mixer, torch.randn(1, 16, 16, 32)), runs=2)
    kinds = profile["kinds"]
    assert sum(kinds.values()) == pytest.approx(profile["wall_s"], rel=1e-6)
    for kind in ("FFT, real to complex", "FFT, complex to real", "FFT, complex", "matrix products"):
        assert kinds[kind] > 0, kind
    assert not any(name.startswith("aten::_fft") for name in profile["ops"])  # no PyTorch FFT on this path


def test_attention_and_copy_profiles_have_no_ffts() -> None:
    x = torch.randn(1, 8, 8, 32)
    attention = profile_step(_forward(SelfAttention2d(32, num_heads=4), x), runs=1)["kinds"]
    assert attention["matrix products"] > 0
    copy = profile_step(_forward(CopyFloor(32), x), runs=1)["kinds"]
    assert copy["copies and fills"] > 0 and copy["matrix products"] == 0
    for kinds in (attention, copy):
        assert kinds["FFT, real to complex"] == kinds["FFT, complex to real"] == kinds["FFT, complex"] == 0


def test_bench_profile_rows_table_checks_and_plot(tmp_path, capsys) -> None:
    out = tmp_path / "p"
    main(["--mixers", "afno", "afno:hard_thresholding_fraction=0.5", "copy", "--grids", "8", "--dim", "16",
          "--repeats", "1", "--no-memory", "--no-progress", "--profile", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "by kind of work" in printed and "matmul" in printed
    rows = json.loads(out.with_suffix(".json").read_text())["results"]
    assert all(set(r["profile"]["kinds"]) == set(KINDS) for r in rows)
    names = {c["name"] for c in target_checks(rows)}
    assert any("kernels alone" in n for n in names) and any("kernels plus a copy" in n for n in names)
    assert format_profile(rows).count("\n") == len(rows) + 2
    fig = plot_profile(rows)
    assert len(fig.axes[0].patches) == len(rows) * len(KINDS)


def test_profile_errors_are_named() -> None:
    with pytest.raises(ValueError, match="profile"):
        plot_profile([{"mixer": "afno", "profile": None}])
    with pytest.raises(ValueError, match="runs"):
        profile_step(lambda: None, runs=0)
    with pytest.raises(ValueError, match="profile: the operator profile is CPU only"):
        check_profile_device(torch.device("cuda"))
    check_profile_device(torch.device("cpu"))


def test_profiling_prints_nothing_but_the_steps_own_errors_still_show(capfd) -> None:
    import os

    profile_step(lambda: torch.randn(64).sum(), runs=1)
    assert capfd.readouterr().err == ""  # the profiler's start/stop log lines are silenced

    def noisy() -> None:
        os.write(2, b"step error\n")

    profile_step(noisy, runs=1, warmup=0)
    assert capfd.readouterr().err == "step error\n"
