"""The few-shot benchmark, the pretraining CLI and their files, on tiny settings."""

from __future__ import annotations

import json

import pytest
import torch

from afno_tutorial import SegmentationModel, fewshot
from afno_tutorial.fewshot.cli import main as fewshot_main
from afno_tutorial.fewshot.pretrain import load_pretrained, pretrain_backbone
from afno_tutorial.fewshot.pretrain import main as pretrain_main

TINY = dict(dim=16, depth=1, img_size=32, steps=3, n_images=8, batch_size=4)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    for mixer in ("afno", "gfn"):
        meta = pretrain_backbone(mixer, out=out, progress=False, **TINY)
        assert meta["parameters"] > 0 and len(meta["history"]["loss"]) == 3
    return out


def test_pretrained_backbone_files(checkpoints):
    backbone, meta = load_pretrained("afno", checkpoints)
    assert meta["config"]["dim"] == 16 and meta["recipe"]["steps"] == 3
    assert next(backbone.parameters()).dtype == torch.float32
    assert backbone(torch.rand(1, 3, 32, 32)).shape == (1, 8, 8, 16)
    assert "torch" in meta["versions"]
    with pytest.raises(ValueError, match="afno_tutorial.pretrain --mixer fno"):
        load_pretrained("fno", checkpoints)


def test_pretrain_cli_resumes(tmp_path):
    args = ["--mixer", "afno", "--steps", "4", "--images", "8", "--size", "32", "--dim", "16", "--depth", "1",
            "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state"), "--max-minutes", "0.0"]
    pretrain_main(args)  # no time at all: nothing written
    assert not (tmp_path / "out" / "afno.pt").exists()
    pretrain_main(args[:-2])
    _, meta = load_pretrained("afno", tmp_path / "out")
    assert meta["history"]["step"] == [0, 1, 2, 3]


def test_support_sets_are_nested_and_disjoint_from_test():
    test = fewshot.make_task(size=32, eval_images=4)
    one = fewshot.support_set(1, seed=0, size=32)
    five = fewshot.support_set(5, seed=0, size=32)
    other = fewshot.support_set(1, seed=1, size=32)
    assert torch.equal(five.images[:1], one.images)
    assert not torch.equal(other.images, one.images)
    assert not any(torch.equal(one.images[0], t) for t in test.images)


def test_run_fewshot_rows_summary_and_files(checkpoints, tmp_path):
    results = fewshot.run_fewshot(["afno"], shots=[1, 2], seeds=[0, 1], inits=["pretrained", "random"],
                                  size=32, eval_images=6, head_steps=5, checkpoints=checkpoints, progress=False,
                                  device="cpu")
    assert len(results["rows"]) == 2 * 2 * 2
    assert len(results["summary"]) == 2 * 2
    for row in results["rows"]:
        assert 0.0 <= row["miou"] <= 1.0 and len(row["per_class_iou"]) == 4
    first = results["summary"][0]
    seeds = [r["miou"] for r in results["rows"] if (r["mixer"], r["init"], r["shots"]) == ("afno", "pretrained", 1)]
    assert first["miou_mean"] == pytest.approx(sum(seeds) / 2)
    assert first["miou_std"] == pytest.approx(abs(seeds[0] - seeds[1]) / 2**0.5)
    assert first["parameters"] > 0 and first["train_step_ms"] > 0
    assert 0 < results["chance_miou"] < 1
    table = fewshot.format_table(results)
    assert "| afno | pretrained | head | 1 |" in table
    paths = fewshot.save_results(results, tmp_path)
    assert all(p.exists() for p in paths)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"]["eval_images"] == 6 and "versions" in saved


def test_random_init_differs_from_pretrained(checkpoints):
    pre, _ = fewshot.get_backbone("afno", "pretrained", checkpoints=checkpoints)
    rnd, _ = fewshot.get_backbone("afno", "random", checkpoints=checkpoints)
    assert not torch.equal(pre.pos_embed, rnd.pos_embed)
    with pytest.raises(ValueError, match="init"):
        fewshot.get_backbone("afno", "imagenet", checkpoints=checkpoints)


def test_cli_writes_results(checkpoints, tmp_path, capsys):
    fewshot_main(["--mixer", "afno", "--shots", "1", "--seeds", "1", "--eval-images", "4", "--head-steps", "2",
                  "--device", "cpu", "--checkpoints", str(checkpoints), "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "mIoU" in printed and (tmp_path / "results.csv").exists() and (tmp_path / "fewshot_miou.png").exists()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["command"].startswith("python -m afno_tutorial.fewshot --mixer afno")


def test_attention_memory():
    assert fewshot.attention_matrix_bytes(65536, heads=8) == 65536**2 * 8 * 4


def test_segment_large_and_forward_timer(checkpoints):
    backbone, _ = load_pretrained("afno", checkpoints)
    model = SegmentationModel(backbone, 4)
    pred = fewshot.segment_large(model, torch.rand(3, 64, 96), device="cpu")
    assert pred.shape == (64, 96) and pred.dtype == torch.long
    grad_modes: list[bool] = []
    hook = backbone.register_forward_hook(lambda *_: grad_modes.append(torch.is_grad_enabled()))
    try:
        assert fewshot.time_forward(backbone, 32, device="cpu", repeats=2) > 0
    finally:
        hook.remove()
    # warmed up before the timed runs, and no autograd graph recorded in any of them
    assert len(grad_modes) >= 3 and not any(grad_modes)


def test_a_backbone_is_shipped_for_every_built_in_mixer():
    for mixer in ("afno", "attention", "gfn", "fno"):
        assert load_pretrained(mixer)[1]["config"]["mixer"] == mixer


def test_attention_at_scale_estimates_on_cpu(checkpoints):
    afno, _ = load_pretrained("afno", checkpoints)
    attention, _ = load_pretrained("gfn", checkpoints)  # any backbone stands in for the quadratic one here
    scale = fewshot.attention_at_scale(afno, attention, large=64, timing_sizes=[16, 32], device="cpu")
    assert scale["tokens"] == (64 // afno.patch_size) ** 2
    assert scale["measured"]["afno"][0] == [16, 64, 256] and len(scale["measured"]["attention"][1]) == 2
    assert scale["measured"]["afno"][1][-1] == scale["afno_seconds"] > 0
    assert scale["estimate"]["attention"][0] == scale["tokens"] and "estimated" in scale["note"]
    measured = fewshot.attention_at_scale(afno, attention, 32, [16, 32], device="cpu", measure_attention=True)
    assert measured["estimate"] == {} and "measured" in measured["note"]
