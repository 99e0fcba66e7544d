"""A mixer registered once appears everywhere: the benchmark, pretraining, few-shot runs and their report, FLOP
counts, colours.

The toy mixer (``tests/toy_mixer.py``, a depthwise convolution) is registered on import, as a user's own mixer
would be, and unregistered after the tests; no module of the package names it.
"""

from __future__ import annotations

import importlib
import json
import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from afno_tutorial import VisionBackbone, bench, build_mixer, register_mixer, unregister_mixer  # noqa: E402
from afno_tutorial.fewshot.cli import main as fewshot_main  # noqa: E402
from afno_tutorial.fewshot.pretrain import load_pretrained  # noqa: E402
from afno_tutorial.fewshot.pretrain import main as pretrain_main  # noqa: E402
from afno_tutorial.fewshot.protocol import MIN_EVAL_IMAGES  # noqa: E402
from afno_tutorial.fewshot.report import conclusions  # noqa: E402
from afno_tutorial.flops import mixer_flops  # noqa: E402
from afno_tutorial.mixers import available_mixers, find_mixer, mixer_info  # noqa: E402
from afno_tutorial.mixers import mixer_label  # noqa: E402
from afno_tutorial.viz.colours import PALETTE, mixer_colour, mixer_colours, series_colours  # noqa: E402
from afno_tutorial.viz.scaling import plot_scaling  # noqa: E402

BUILT_IN = ("afno", "attention", "gfn", "fno")


@pytest.fixture(scope="module")
def toy():
    """The toy mixer's module, registered (as on first import) for the module's tests, unregistered after."""
    if "toy_mixer" in sys.modules:
        module = sys.modules["toy_mixer"]
        if module.NAME not in available_mixers():
            module.register()
    else:
        module = importlib.import_module("toy_mixer")
    yield module
    unregister_mixer(module.NAME)


def test_toy_is_registered_and_builds(toy) -> None:
    assert available_mixers()[: len(BUILT_IN)] == list(BUILT_IN) and available_mixers()[-1] == toy.NAME
    mixer = build_mixer(toy.NAME, 8, grid_size=(4, 4))
    assert isinstance(mixer, toy.DepthwiseConv2d) and find_mixer(mixer).name == toy.NAME
    x = torch.randn(2, 4, 4, 8)
    assert mixer(x).shape == x.shape
    backbone = VisionBackbone(mixer=toy.NAME, dim=8, depth=1, patch_size=4, img_size=16)
    assert backbone(torch.rand(1, 3, 16, 16)).shape == (1, 4, 4, 8)


def test_toy_is_in_the_benchmark_defaults_and_runs_there(toy) -> None:
    assert bench.default_mixers() == (*BUILT_IN, toy.NAME)
    from afno_tutorial.bench.cli import build_parser

    assert build_parser().parse_args([]).mixers[-1] == toy.NAME
    rows = bench.run_benchmark(None, [4], dim=8, repeats=1, warmup_seconds=0.0, memory=False, progress=False)
    assert [r["mixer"] for r in rows] == [*BUILT_IN, toy.NAME] and all(r["status"] == "ok" for r in rows)
    assert rows[-1]["flops"] == 2 * 4 * 4 * 8 * 9 and "FLOPs counted" in rows[-1]["note"]
    # CPU memory is measured in a fresh process, which imports toy_mixer to build the toy by name.
    (row,) = bench.run_benchmark([toy.NAME], [4], dim=8, repeats=1, warmup_seconds=0.0, progress=False)
    assert row["status"] == "ok" and row["memory_bytes"] is not None


def test_toy_flops_are_counted_and_labelled(toy) -> None:
    counts = mixer_flops(build_mixer(toy.NAME, 8), (6, 5), batch=3)
    # Depthwise 3x3: 9 multiply-adds per output element, 2 FLOPs each; no formula, so counted and said so.
    assert counts["counted"] == counts["total"] == counts["mixing"] == 2 * 9 * 3 * 6 * 5 * 8
    assert counts["fft"] == counts["pointwise"] == 0
    assert "counted" not in mixer_flops(build_mixer("afno", 8), (6, 5))


def test_a_registered_flop_formula_is_used(toy) -> None:
    class WithFormula(toy.DepthwiseConv2d):
        pass

    def formula(mixer, height, width):
        return {"fft": 1.0, "mixing": float(height * width), "pointwise": 0.5}

    register_mixer("toy_formula", WithFormula, flops=formula)
    try:
        assert mixer_info("toy_formula").module_type is WithFormula
        counts = mixer_flops(build_mixer("toy_formula", 4), (2, 3), batch=2)
        assert counts == {"fft": 2.0, "mixing": 12.0, "pointwise": 1.0, "total": 15.0}  # per image, times the batch
        assert "counted" in mixer_flops(build_mixer(toy.NAME, 4), (2, 3))  # the base class keeps its own entry
    finally:
        unregister_mixer("toy_formula")


def test_toy_gets_its_own_colour(toy) -> None:
    colours = mixer_colours()
    assert set(colours) == set(available_mixers())
    assert colours[toy.NAME] not in {colours[name] for name in BUILT_IN}
    assert mixer_colour(toy.NAME) == colours[toy.NAME] in PALETTE  # the same every time
    assert mixer_colour("afno") == "#1f77b4"  # registered with tab:blue
    assert mixer_label(toy.NAME) == "depthwise conv" and mixer_label("roundtrip") == "roundtrip"
    series = series_colours(["afno", toy.NAME, "roundtrip", "afno:num_blocks=4"])
    assert len(set(series.values())) == 4 and series[toy.NAME] == colours[toy.NAME]
    rows = [{"mixer": name, "mode": "forward", "tokens": t, "status": "ok", "time_s": 1e-3 * t, "device": "cpu"}
            for name in ("afno", toy.NAME) for t in (16, 64)]  # fmt: skip
    lines = {line.get_label().split(":")[0]: line.get_color() for line in plot_scaling(rows).axes[0].get_lines()}
    assert lines == {"afno": colours["afno"], toy.NAME: colours[toy.NAME]}
    # SegFormer's figures colour a configuration by the mixer it is named after, a registered toy included
    from afno_tutorial.viz.segformer import mixer_colour as segformer_colour

    assert segformer_colour(f"{toy.NAME}, stage 1") == colours[toy.NAME]
    assert segformer_colour("AFNO, all stages") == colours["afno"] and segformer_colour("other") == "tab:gray"
    with pytest.raises(ValueError, match="name: expected a registered mixer"):
        mixer_colour("roundtrip")


def test_toy_is_a_choice_of_pretraining_and_few_shot(toy, tmp_path, capsys) -> None:
    out, state = tmp_path / "ckpt", tmp_path / "state"
    pretrain_main(["--mixer", toy.NAME, "--steps", "2", "--images", "8", "--size", "32", "--dim", "8", "--depth", "1",
                   "--out", str(out), "--state-dir", str(state), "--device", "cpu"])  # fmt: skip
    backbone, meta = load_pretrained(toy.NAME, out)
    assert meta["config"]["mixer"] == toy.NAME and isinstance(backbone.blocks[0].mixer, toy.DepthwiseConv2d)
    fewshot_main(["--mixer", toy.NAME, "--shots", "1", "--seeds", "1", "--eval-images", str(MIN_EVAL_IMAGES),
                  "--head-steps", "2", "--device", "cpu", "--checkpoints", str(out),
                  "--out", str(tmp_path / "fewshot")])  # fmt: skip
    saved = json.loads((tmp_path / "fewshot" / "results.json").read_text())
    assert [r["mixer"] for r in saved["summary"]] == [toy.NAME]
    assert (tmp_path / "fewshot" / "fewshot_miou.png").exists()
    # The report's sentences name it by its registered label.
    assert conclusions(saved, shots=1)[0].startswith("Frozen features, K = 1: depthwise conv wins with ")


def test_unknown_and_duplicate_names_are_refused(toy, tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match=f"name: '{toy.NAME}' is already registered"):
        register_mixer(toy.NAME, toy.DepthwiseConv2d)
    with pytest.raises(ValueError, match="name: expected letters, digits"):
        register_mixer("toy:conv", toy.DepthwiseConv2d)
    with pytest.raises(TypeError, match="name: expected a str, got list"):
        build_mixer(["afno"], 8)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name: expected one of"):
        unregister_mixer("nope")
    with pytest.raises(SystemExit):
        pretrain_main(["--mixer", "nope", "--out", str(tmp_path)])
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_unregistered_mixers_are_gone_everywhere(tmp_path, capsys) -> None:
    """Runs after the module's other tests (its fixture is not used): a mixer unregistered is offered nowhere."""
    register_mixer("toy_gone", lambda dim, grid_size=None: torch.nn.Identity())
    unregister_mixer("toy_gone")
    assert "toy_gone" not in available_mixers() and "toy_gone" not in bench.default_mixers()
    with pytest.raises(SystemExit):
        pretrain_main(["--mixer", "toy_gone", "--out", str(tmp_path)])
    assert "invalid choice: 'toy_gone'" in capsys.readouterr().err
