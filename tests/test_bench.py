"""The scaling benchmark's output format and skipping, and the fast AFNO's layout helpers (no timing asserts)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from typing import Iterator

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from afno_tutorial import AFNO2d, bench, measure, spectral  # noqa: E402
from afno_tutorial.bench import (  # noqa: E402
    CSV_FIELDS,
    CopyFloor,
    FFTRoundTrip,
    ReferenceAFNO2d,
    build_bench_mixer,
    format_checks,
    format_table,
    parse_mixer_spec,
    run_benchmark,
    save_results,
    target_checks,
    theoretical_flops,
)
from afno_tutorial.bench import isolate as isolate_mod  # noqa: E402
from afno_tutorial.bench import targets as targets_mod  # noqa: E402
from afno_tutorial.bench.cli import main  # noqa: E402
from afno_tutorial.viz.scaling import plot_flop_curves, plot_scaling  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _short_warmup() -> Iterator[None]:
    """These tests check formats, budgets and plumbing, not times: no second-long warm-ups (the test of the
    warm-up sets its own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(measure, "WARMUP_SECONDS", 0.0)
        yield


@pytest.fixture(scope="module")
def small_results() -> list[dict]:
    return run_benchmark(
        ["afno", "attention", "roundtrip", "afno:hard_thresholding_fraction=0.5"], [4, 8], dim=16,
        modes=["forward", "backward"], repeats=1, memory=False, progress=False,
    )  # fmt: skip


def test_results_have_every_field_and_sensible_values(small_results: list[dict]) -> None:
    assert len(small_results) == 4 * 2 * 2
    for row in small_results:
        assert set(CSV_FIELDS) <= set(row)
        assert row["status"] == "ok"
        assert row["time_s"] > 0 and row["flops"] > 0 and row["gflops_per_s"] > 0
        assert row["time_min_s"] <= row["time_s"] <= row["time_max_s"]  # the median lies within the runs' spread
        assert row["tokens"] == row["grid"] ** 2
        assert row["input_bytes"] == row["tokens"] * 16 * 4
    table = format_table(small_results)
    assert "afno:hard_thresholding_fraction=0.5" in table and "backward" in table
    long_label = "afno:hard_thresholding_fraction=0.5,num_blocks=16,path='pocketfft'"
    lines = format_table([{**small_results[0], "mixer": long_label}, small_results[1]]).splitlines()
    assert long_label in lines[2]  # labels are never cut, and the columns stay aligned
    assert lines[2].index(" forward") == lines[3].index(" forward")
    names = {c["name"] for c in target_checks(small_results)}
    assert any("round trip" in n for n in names) and any("attention" in n for n in names)


def test_over_budget_configurations_are_skipped_with_estimates() -> None:
    results = run_benchmark(["attention", "gfn"], [4, 8, 64], dim=8, repeats=1, time_budget=1e-9,
                            memory_budget=1e12, memory=False, progress=False)  # fmt: skip
    assert all(r["status"] == "skipped" for r in results)
    assert all(r["estimate_time_s"] > 1e-9 and "time budget" in r["note"] for r in results)
    # A memory budget below attention's N^2 scores skips the big grid before running it.
    results = run_benchmark(["attention"], [4, 64], dim=8, repeats=1, memory_budget=5e6, memory=False,
                            progress=False)  # fmt: skip
    assert [r["status"] for r in results] == ["ok", "skipped"]
    assert results[1]["estimate_memory_bytes"] > 5e6 and results[1]["time_s"] is None


def test_cli_writes_csv_json_and_plot(tmp_path, capsys) -> None:
    out = tmp_path / "res"
    main(["--mixers", "gfn", "fno", "--grids", "4", "8", "--dim", "8", "--repeats", "1", "--no-memory",
          "--no-progress", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "gfn" in printed and "slopes" in printed and "device:" in printed
    with (tmp_path / "res.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and list(rows[0]) == list(CSV_FIELDS)
    payload = json.loads((tmp_path / "res.json").read_text())
    assert payload["command"].startswith("python -m afno_tutorial.bench")
    assert "torch" in payload["versions"] and len(payload["results"]) == 4
    assert (tmp_path / "res.png").stat().st_size > 0


def test_cpu_memory_is_measured_in_a_subprocess() -> None:
    (row,) = run_benchmark(["gfn"], [32], dim=64, repeats=1, progress=False)
    assert row["status"] == "ok" and row["memory_bytes"] > 0 and row["memory_ratio"] > 0


def test_peak_memory_sees_a_large_temporary() -> None:
    # In a fresh process, as the benchmark does (a long-lived one may reuse memory it already holds).
    code = (
        "import torch; from afno_tutorial.measure import peak_memory_bytes; "
        "print(peak_memory_bytes(lambda: torch.ones(16 * 2**20).sum(), 'cpu'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out.split()[-1]) >= 0.9 * 64 * 2**20


@pytest.mark.parametrize("text", ["nope", "afno:fraction", "afno:x=not a literal"])
def test_bad_mixer_specs_are_named(text: str) -> None:
    with pytest.raises(ValueError, match="mixers"):
        parse_mixer_spec(text)


def test_spec_parsing_and_bad_arguments() -> None:
    spec = parse_mixer_spec("afno:hard_thresholding_fraction=0.5,num_blocks=4")
    assert spec.kwargs == {"hard_thresholding_fraction": 0.5, "num_blocks": 4}
    compiled = parse_mixer_spec("afno+compile:num_blocks=4")
    assert compiled.compile and compiled.name == "afno" and compiled.label == "afno+compile:num_blocks=4"
    bare = parse_mixer_spec("afno:path=pocketfft,modes=None")  # a bare word is a string, None stays None
    assert bare.kwargs == {"path": "pocketfft", "modes": None}
    assert bare.label == parse_mixer_spec("afno:path='pocketfft',modes=None").label
    built = build_bench_mixer(bare, 16, 4)  # options AFNO2d takes
    assert built.path == "pocketfft" and built.modes is None
    with pytest.raises(ValueError, match="modes"):
        run_benchmark(["gfn"], [4], modes=["sideways"], progress=False)
    with pytest.raises(ValueError, match="dtype"):
        run_benchmark(["gfn"], [4], dtype="float8", progress=False)


def test_baselines_compute_what_they_claim() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8, 16)
    assert torch.allclose(FFTRoundTrip(16)(x), x, atol=1e-5)
    # Truncated: a low-pass of the memory read as (B, C, H, W), keeping exactly AFNO2d's set at that fraction.
    low = FFTRoundTrip(16, hard_thresholding_fraction=0.5)(x).reshape(2, 16, 6, 8)
    kept = spectral.kept_mode_mask(6, 8, spectral.modes_from_fraction(6, 8, 0.5))
    expected = torch.fft.rfft2(x.reshape(2, 16, 6, 8), norm="ortho") * kept
    torch.testing.assert_close(torch.fft.rfft2(low, norm="ortho"), expected, atol=1e-5, rtol=1e-5)
    assert (theoretical_flops(FFTRoundTrip(16, 0.5), 16, 1, "forward")
            < theoretical_flops(FFTRoundTrip(16), 16, 1, "forward"))
    ref = ReferenceAFNO2d(16, num_blocks=4)
    with torch.no_grad():
        for p in ref.parameters():
            p.mul_(10)
    assert torch.allclose(ref(x), ref.inner(x), atol=1e-5)
    copied = CopyFloor(16)(x)
    assert torch.equal(copied, x) and copied.data_ptr() != x.data_ptr()  # a new tensor, not a view
    assert theoretical_flops(CopyFloor(16), 8, 1, "forward") is None


def test_plots_return_figures(small_results: list[dict], tmp_path) -> None:
    fig = plot_scaling(small_results)
    assert len(fig.axes) == 1  # no memory measured: the time panel only
    fig = plot_flop_curves({"a": ([16, 64, 256], [1.0e6, 4.0e6, 1.6e7])}, device_rate=1e9)
    assert fig.axes
    save_results(small_results, tmp_path / "x")
    with pytest.raises(ValueError, match="results"):
        plot_scaling([{**small_results[0], "time_s": None, "flops": None}])


# --- the fast AFNO: no-grad path, CPU Hermitian projection ------------------------------------------------------


def test_large_afno_no_grad_path_equals_autograd_path() -> None:
    torch.manual_seed(0)
    mixer = AFNO2d(64, num_blocks=4, hard_thresholding_fraction=0.75)
    with torch.no_grad():
        for p in mixer.parameters():
            p.mul_(10)  # make ReLU and soft-shrink act
    x = torch.randn(1, 48, 48, 64)  # big enough for the fast path without a graph and several MLP chunks
    with torch.no_grad():
        fast = mixer(x)
    x.requires_grad_(True)
    slow = mixer(x)
    assert torch.allclose(fast, slow, atol=1e-5)
    slow.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("width", [8, 9])
def test_cpu_real_inverse_ignores_imaginary_parts_of_real_columns(width: int) -> None:
    """Why the CPU path may skip the explicit Hermitian projection: the real inverse FFT already applies it."""
    torch.manual_seed(0)
    t = torch.randn(3, 5, width // 2 + 1, dtype=torch.complex64)
    projected = spectral._drop_imaginary_of_real_columns(t, width)
    assert torch.equal(torch.fft.irfft(t, n=width), torch.fft.irfft(projected, n=width))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_benchmark_path() -> None:
    (row,) = run_benchmark(["afno"], [16], dim=32, device="cuda", repeats=1, progress=False)
    assert row["status"] == "ok" and row["memory_bytes"] > 0 and row["device"].startswith("CUDA")
    x = torch.randn(1, 16, 12, 32, device="cuda")
    mixer = AFNO2d(32).cuda()
    assert torch.allclose(mixer(x).cpu(), mixer.cpu()(x.cpu()), atol=1e-4)


def test_isolated_timing_runs_in_a_fresh_process_with_the_parents_threads(monkeypatch) -> None:
    seen = []
    real = isolate_mod.run_child
    monkeypatch.setattr(isolate_mod, "run_child", lambda task, timeout: seen.append(task) or real(task, timeout))
    rows = run_benchmark(["gfn", "afno"], [8], dim=16, repeats=2, memory=False, progress=False, isolate=True,
                         profile=True)  # fmt: skip
    assert [t["task"] for t in seen] == ["time", "time"]
    for row in rows:
        assert row["status"] == "ok" and "fresh process" in row["note"]
        assert row["time_min_s"] <= row["time_s"] <= row["time_max_s"]
        assert row["profile"]["kinds"]["FFT, real to complex"] > 0  # both mixers transform
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        timed = bench.time_subprocess(parse_mixer_spec("gfn"), 8, 16, 1, "float32", "forward", repeats=1)
    finally:
        torch.set_num_threads(threads)
    assert timed["threads"] == 1 and len(timed["times"]) == 1 and timed["profile"] is None
    with pytest.raises(ValueError, match="isolate"):
        run_benchmark(["gfn"], [4], device="cuda", isolate=True, progress=False)


def test_rounds_time_every_configuration_round_after_round_and_report_the_median(monkeypatch) -> None:
    order = []
    real = measure.time_step

    def fake_time_step(step, device, repeats=5, warmup=1, max_seconds=60.0, warmup_seconds=None):
        real(step, device, repeats=1, warmup=0)  # the step must still run
        order.append(len(order))
        return float(len(order)), [float(len(order))]  # the n-th timing takes n seconds

    monkeypatch.setattr(measure, "time_step", fake_time_step)
    rows = run_benchmark(["gfn", "copy"], [8], dim=16, memory=False, progress=False, rounds=3)
    # Timings 1, 2 in round one, 3, 4 in round two, 5, 6 in round three: interleaved, not one mixer at a time.
    assert [r["round_times_s"] for r in rows] == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
    assert [r["time_s"] for r in rows] == [3.0, 4.0]
    assert [(r["time_min_s"], r["time_max_s"]) for r in rows] == [(1.0, 5.0), (2.0, 6.0)]
    assert all("median of 3 rounds" in r["note"] for r in rows)
    once = run_benchmark(["gfn"], [8], dim=16, memory=False, progress=False)
    assert "round_times_s" not in once[0]
    with pytest.raises(ValueError, match="rounds"):
        run_benchmark(["gfn"], [8], dim=16, memory=False, progress=False, rounds=0)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.3])
def test_scipy_round_trip_equals_torch_round_trip_and_is_its_own_adjoint(fraction: float) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 12, 10, 6, dtype=torch.float64, requires_grad=True)
    torch_rt = build_bench_mixer(f"roundtrip:hard_thresholding_fraction={fraction}", 6, 12)
    scipy_rt = build_bench_mixer(f"roundtrip:hard_thresholding_fraction={fraction},library=scipy", 6, 12)
    y = scipy_rt(x)
    assert torch_rt.library == "torch" and scipy_rt.library == "scipy"
    # The torch baseline reads the memory as (B, C, H, W), a different field: compare with the transforms applied
    # to the channels-first view of the same tensor.
    xc = x.detach().permute(0, 3, 1, 2)
    modes = spectral.modes_from_fraction(12, 10, fraction)
    expected = spectral.irfft2_kept(spectral.rfft2_kept(xc, modes), (12, 10), modes).permute(0, 2, 3, 1)
    torch.testing.assert_close(y.detach().double(), expected.float().double(), rtol=1e-5, atol=1e-5)
    if fraction == 1.0:
        torch.testing.assert_close(y.detach().double(), x.detach(), rtol=1e-5, atol=1e-5)
    g = torch.randn_like(x)
    (y * g).sum().backward()
    torch.testing.assert_close(x.grad, scipy_rt(g).detach().double(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="library"):
        build_bench_mixer("roundtrip:library=numpy", 6, 12)


def test_targets_are_checked_against_each_fft_floor() -> None:
    def row(mixer: str, time_s: float, mode: str = "forward") -> dict:
        return {"mixer": mixer, "mode": mode, "tokens": 64, "status": "ok", "time_s": time_s}

    results = [row("afno", 3.0), row("afno", 8.0, "backward"), row("roundtrip", 2.0)]
    only_torch = {c["name"]: c for c in target_checks(results)}
    assert only_torch["AFNO forward / FFT round trip, PyTorch (<=)"]["value"] == pytest.approx(1.5)
    assert not any("SciPy" in name for name in only_torch)
    both = {c["name"]: c for c in target_checks([*results, row("roundtrip:library='scipy'", 1.0)])}
    scipy_check = both["AFNO forward / FFT round trip, SciPy (<=)"]
    assert scipy_check["value"] == pytest.approx(3.0) and not scipy_check["passed"]
    assert both["AFNO forward+backward / FFT round trip, PyTorch (<=)"]["value"] == pytest.approx(4.0)
    assert both["AFNO forward+backward / FFT round trip, PyTorch (<=)"]["passed"]
    assert not both["AFNO forward+backward / FFT round trip, SciPy (<=)"]["passed"]
    # Lines for information have no limit and no verdict.
    info = {c["name"]: c for c in target_checks([*results, row("afno_reference", 6.0)])}
    reference = info["reference-style AFNO forward / FFT round trip, PyTorch (info)"]
    assert reference["value"] == pytest.approx(3.0) and math.isinf(reference["limit"])
    assert "met" not in format_checks([reference])


@pytest.mark.parametrize("name", ["afno", "attention", "fno", "gfn", "roundtrip", "roundtrip:library=scipy",
                                  "afno_reference", "copy"])  # fmt: skip
def test_every_bench_mixer_runs_in_bfloat16(name: str) -> None:
    """``--dtype bfloat16`` casts parameters and input: every mixer must run (spectral parts in float32) and give
    its float32 result to bf16 precision, with gradients."""
    torch.manual_seed(0)
    module = build_bench_mixer(name, 32, 8)
    x = torch.randn(1, 8, 8, 32)
    reference = module(x).detach()
    low = module.to(torch.bfloat16)
    xb = x.bfloat16().requires_grad_()
    y = low(xb)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), reference, rtol=0.05, atol=0.05)
    y.float().square().sum().backward()
    assert xb.grad is not None and torch.isfinite(xb.grad.float()).all()


def test_paired_times_alternate_the_two_steps_and_take_per_cycle_ratios() -> None:
    from afno_tutorial.bench.paired import paired_times

    calls, now = [], [0.0]
    durations = {"a": iter([3.0] * 2 + [2.0, 6.0, 2.0]), "b": iter([1.0] * 2 + [1.0, 2.0, 4.0])}

    def clock() -> float:  # a fake clock: each step advances it by its next duration
        return now[0]

    def step(name: str):
        def run() -> None:
            calls.append(name)
            now[0] += next(durations[name])
        return run

    stats = paired_times(step("a"), step("b"), torch.device("cpu"), cycles=3, warmup_seconds=0.0, clock=clock)
    assert calls == ["a", "b", "a", "b", "a", "b", "b", "a", "a", "b"]  # two warm-up cycles, then a-b, b-a, a-b
    assert stats["ratios"] == [2.0, 3.0, 0.5] and stats["ratio"] == 2.0
    assert stats["time_a_s"] == 2.0 and stats["time_b_s"] == 2.0 and stats["cycles"] == 3
    assert stats["ratio_q1"] <= stats["ratio"] <= stats["ratio_q3"]
    with pytest.raises(ValueError, match="cycles: expected a positive integer, got 0"):
        paired_times(step("a"), step("b"), torch.device("cpu"), cycles=0)


def test_compare_switch_times_each_step_with_the_setting_off_and_on_and_leaves_it_on() -> None:
    from afno_tutorial.bench.paired import compare_switch, format_switch

    setting, seen, now = [True], [], [0.0]

    def step() -> None:  # three times as long with the setting off, on a fake clock
        seen.append(setting[0])
        now[0] += 1.0 if setting[0] else 3.0

    rows = compare_switch(lambda on: setting.__setitem__(0, on), {"case": step}, torch.device("cpu"), cycles=4,
                          warmup_seconds=0.0, clock=lambda: now[0])  # fmt: skip
    assert seen.count(False) == seen.count(True) == 6 and setting == [True]  # two warm-up cycles and four timed
    (row,) = rows
    assert row["case"] == "case" and row["off_s"] == 3.0 and row["on_s"] == 1.0 and row["ratio_off_on"] == 3.0
    assert "off / on 3.000" in format_switch(rows)


def test_make_step_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode: expected one of"):
        bench.make_step(torch.nn.Identity(), torch.zeros(1, 2, 2, 1), "train")


def test_cli_paired_targets_are_measured_in_fresh_processes_and_saved(tmp_path, capsys, monkeypatch) -> None:
    tasks = []
    real = isolate_mod.run_child
    monkeypatch.setattr(isolate_mod, "run_child", lambda task, timeout: tasks.append(task) or real(task, timeout))
    out = tmp_path / "paired"
    main(["--mixers", "afno", "--grids", "4", "8", "--dim", "16", "--repeats", "1", "--no-memory", "--no-progress",
          "--warmup-seconds", "0", "--paired", "2", "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr().out
    assert "paired targets" in printed and "AFNO fraction 0.5 / fraction 1 forward (<=) at 64 tokens" in printed
    pairs = targets_mod.TARGET_PAIRS
    assert [t["task"] for t in tasks] == ["paired"] * len(pairs)
    assert all(t["grid"] == 8 and t["cycles"] == 2 for t in tasks)  # the largest grid
    saved = json.loads(out.with_suffix(".json").read_text())["paired_targets"]
    assert [r["name"] for r in saved] == [name for name, *_ in pairs]
    for row in saved:
        assert len(row["ratios"]) == 2 and row["ratio"] > 0 and row["passed"] == (row["ratio"] <= row["limit"])
        assert row["ratio"] == pytest.approx(sum(row["ratios"]) / 2)  # the median of two cycles
    main(["--replot", str(out.with_suffix(".json"))])
    assert "paired targets:\nAFNO forward / FFT round trip, SciPy (<=) at 64 tokens" in capsys.readouterr().out
    with pytest.raises(ValueError, match="isolate"):
        targets_mod.measure_target_pairs(4, 16, device="cuda", isolate=True)


def test_setup_is_seeded_and_leaves_the_callers_random_state_alone() -> None:
    spec = parse_mixer_spec("gfn")
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    _, x1, _ = bench.setup_step(spec, 4, 8, 1, torch.device("cpu"), torch.float32, "backward")
    assert torch.equal(torch.rand(3), expected)
    _, x2, _ = bench.setup_step(spec, 4, 8, 1, torch.device("cpu"), torch.float32, "forward")
    assert torch.equal(x1.detach(), x2)  # the same input every time


def test_a_script_s_results_are_saved_with_the_command_that_made_them(tmp_path, capsys) -> None:
    from afno_tutorial.bench.results import save_script_results

    rows = [{"case": "x", "ratio_off_on": 1.2}]
    path = save_script_results(tmp_path / "r.json", "peers.py", ["--cycles", "3"], rows, peers={"a": 1})
    saved = json.loads(path.read_text())
    assert saved["command"] == "python benchmarks/peers.py --cycles 3"
    assert saved["results"] == rows and saved["peers"] == {"a": 1} and saved["device"].startswith("CPU")
    assert set(saved["versions"]) >= {"torch", "python"} and f"wrote {path}" in capsys.readouterr().out
