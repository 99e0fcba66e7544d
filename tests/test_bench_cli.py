"""The benchmark's command line: every bad setting refused before any work, with the argument and the value
expected; ``--replot`` of a file that is not a benchmark's names the file; the committed results still replot."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from afno_tutorial.bench import cli, load_payload  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The committed runs of the benchmark: the files its command line wrote (benchmarks/ holds other scripts' JSON too).
COMMITTED = sorted(p for p in (ROOT / "benchmarks").glob("*.json")
                   if str(json.loads(p.read_text()).get("command", "")).startswith("python -m afno_tutorial.bench "))
TINY = ["--grids", "4", "--dim", "8", "--repeats", "1", "--no-memory", "--no-progress"]


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if the benchmark starts running."""

    def refuse(*args, **kwargs):
        raise AssertionError("the benchmark ran although a setting was bad")

    monkeypatch.setattr(cli, "run_benchmark", refuse)


def refused(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["--dim", "63"], "argument --mixers: 'afno' cannot be built with dim=63 on a 4x4 grid: dim: expected a "
                      "multiple of num_blocks=8, got dim=63"),
    (["--mixers", "attention:num_heads=5"], "argument --mixers: 'attention:num_heads=5' cannot be built with dim=8 on "
                                            "a 4x4 grid: dim: expected a multiple of num_heads=5, got dim=8"),
    (["--mixers", "nope"], "argument --mixers: expected names from ['afno', 'attention', 'gfn', 'fno', 'roundtrip', "
                           "'afno_reference', 'copy'], got 'nope'"),
    (["--mixers", "afno:num_blocks"], "argument --mixers: expected 'name:key=value,...', got 'afno:num_blocks'"),
    (["--dim", "0"], "argument --dim: expected a positive integer, got '0'"),
    (["--grids", "16", "0"], "argument --grids: expected a positive integer, got '0'"),
    (["--grids", "-4"], "argument --grids: expected a positive integer, got '-4'"),
    (["--grids", "8.5"], "argument --grids: expected a positive integer, got '8.5'"),
    (["--batch", "0"], "argument --batch: expected a positive integer, got '0'"),
    (["--repeats", "0"], "argument --repeats: expected a positive integer, got '0'"),
    (["--rounds", "0"], "argument --rounds: expected a positive integer, got '0'"),
    (["--threads", "0"], "argument --threads: expected a positive integer, got '0'"),
    (["--warmup", "-1"], "argument --warmup: expected a non-negative integer, got '-1'"),
    (["--warmup-seconds", "nan"], "argument --warmup-seconds: expected a non-negative number, got 'nan'"),
    (["--time-budget", "0"], "argument --time-budget: expected a positive number, got '0'"),
    (["--memory-budget-gb", "inf"], "argument --memory-budget-gb: expected a positive number, got 'inf'"),
    (["--paired", "-2"], "argument --paired: expected a non-negative integer, got '-2'"),
])  # fmt: skip
def test_bad_settings_are_refused_before_any_work(argv, message, capsys, no_work) -> None:
    printed = refused([*TINY, "--mixers", "afno", "gfn", *argv], capsys)
    assert printed == f"python -m afno_tutorial.bench: error: {message}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_device_is_refused(capsys, no_work) -> None:
    message = refused([*TINY, "--device", "cuda"], capsys)
    assert message.endswith("argument --device: 'cuda' was requested but torch.cuda.is_available() is False")


def test_isolate_and_profile_need_the_cpu(capsys, no_work, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert "argument --isolate: timing in fresh processes is CPU only" in refused(
        [*TINY, "--device", "cuda", "--isolate"], capsys)
    assert "argument --profile: the operator profile is CPU only" in refused(
        [*TINY, "--device", "cuda", "--profile"], capsys)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_an_unwritable_out_is_refused_before_any_work(capsys, no_work) -> None:
    message = refused([*TINY, "--out", "/proc/nope/results"], capsys)
    assert "argument --out: expected a path in a writable folder, got '/proc/nope/results'" in message


def test_replot_of_a_file_that_is_not_a_benchmark_names_it(tmp_path, capsys) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not JSON at all\n")
    assert f"argument --replot: '{text}' is not a benchmark results file" in refused(["--replot", str(text)], capsys)
    missing = tmp_path / "missing.json"
    assert f"argument --replot: no such file '{missing}'" in refused(["--replot", str(missing)], capsys)
    shaped = tmp_path / "list.json"
    shaped.write_text("[1, 2]")
    assert "expected a JSON object with a 'results' list, got list" in refused(["--replot", str(shaped)], capsys)
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps({"results": [{"mixer": "afno", "mode": "forward"}]}))
    message = refused(["--replot", str(rows)], capsys)
    assert f"'{rows}' is not a benchmark results file: row 0 of 'results' lacks ['tokens', 'status'" in message
    other = ROOT / "benchmarks" / "cpu_2threads_openmp.json"  # another script's results
    assert "row 0 of 'results' lacks" in refused(["--replot", str(other)], capsys)


def test_the_committed_results_replot(tmp_path, capsys) -> None:
    assert len(COMMITTED) >= 6, COMMITTED
    for path in COMMITTED:
        assert load_payload(path)["results"], path
    copy = tmp_path / "cpu_2threads.json"
    shutil.copy(ROOT / "benchmarks" / "cpu_2threads.json", copy)
    assert cli.main(["--replot", str(copy)]) == 0
    printed = capsys.readouterr().out
    assert "targets:" in printed and "paired targets:" in printed and copy.with_suffix(".png").stat().st_size > 0


def test_a_good_run_still_writes_its_files(tmp_path, capsys) -> None:
    out = tmp_path / "new" / "run"  # a folder that does not exist yet is made
    assert cli.main([*TINY, "--mixers", "gfn", "copy", "--out", str(out)]) == 0
    assert all(out.with_suffix(s).exists() for s in (".csv", ".json", ".png"))
    assert "gfn" in capsys.readouterr().out
