"""Training and evaluating SegFormer: the schedule, exact resume, no non-finite checkpoint, sliding windows, the CLI."""

from __future__ import annotations

import json
import os
import signal
from types import SimpleNamespace

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")
pytest.importorskip("cityscapesscripts")

from afno_tutorial import cityscapes as cli  # noqa: E402
from afno_tutorial.data import SegFormerAugment, SegmentationPairs, write_synthetic_cityscapes  # noqa: E402
from afno_tutorial.segformer import build_segformer, evaluate_segformer, sliding_window_logits  # noqa: E402
from afno_tutorial.segformer.engine import (  # noqa: E402
    parameter_groups,
    poly_schedule,
    segmentation_loss,
    train_segformer,
)
from afno_tutorial.train import load_checkpoint  # noqa: E402


def _pairs(n: int = 6, size: int = 48, crop: int = 32) -> SegmentationPairs:
    gen = torch.Generator().manual_seed(0)
    cells = torch.randint(0, 3, (n, size // 8, size // 8), generator=gen)
    masks = cells.repeat_interleave(8, 1).repeat_interleave(8, 2)  # 8x8-pixel cells
    noise = torch.rand(n, 3, size, size, generator=gen)
    images = torch.stack([masks == c for c in range(3)], 1).float() * 0.8 + 0.1 * noise
    return SegmentationPairs(images, masks, ["a", "b", "c"], SegFormerAugment(crop))


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_segformer("b0", num_labels=3, mixer="afno", stages=[1, 2], image_size=32)


def _run(model, data, path, **kwargs):
    settings = dict(steps=4, batch_size=2, warmup=2, checkpoint=path, checkpoint_every=100, progress=False, seed=1)
    return train_segformer(model, data, **{**settings, **kwargs})


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_poly_schedule_with_warmup():
    assert poly_schedule(0, 100, warmup=10) == pytest.approx(1e-6)
    assert poly_schedule(5, 100, warmup=10) == pytest.approx(0.5, abs=1e-5)
    assert poly_schedule(10, 100, warmup=10) == 1.0
    assert poly_schedule(55, 100, warmup=10) == pytest.approx(0.5)
    assert poly_schedule(100, 100, warmup=10) == 0.0
    assert poly_schedule(55, 100, warmup=10, power=2.0) == pytest.approx(0.25)
    factors = [poly_schedule(s, 100, warmup=10) for s in range(101)]
    assert factors.index(max(factors)) == 10 and all(a >= b for a, b in zip(factors[10:], factors[11:]))


def test_parameter_groups_follow_the_recipe():
    model = _model()
    groups = parameter_groups(model, lr=1e-4, weight_decay=0.01)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters()) and len(ids) == len(set(ids))
    head = {id(p) for p in model.decode_head.parameters()}
    for group in groups:
        for param in group["params"]:
            assert group["lr"] == pytest.approx(1e-3 if id(param) in head else 1e-4)
    norms = {id(m.weight) for m in model.modules() if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d))}
    for group in groups:
        assert all((id(p) in norms) <= (group["weight_decay"] == 0.0) for p in group["params"])


def test_loss_ignores_label_255():
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    masks = torch.full((1, 8, 8), 255)
    loss = segmentation_loss(logits, masks)
    loss.backward()
    assert float(loss.detach()) == 0.0 and logits.grad is not None
    masks[0, :4] = 1
    expected = nn.functional.cross_entropy(nn.functional.interpolate(logits, size=(8, 8), mode="bilinear")[..., :4, :],
                                           masks[:, :4])  # fmt: skip
    torch.testing.assert_close(segmentation_loss(logits, masks), expected)


def test_training_lowers_the_loss_and_writes_a_log(tmp_path):
    history = _run(_model(), _pairs(), tmp_path / "ck.pt", steps=12, lr=1e-3, log=tmp_path / "log.json",
                   run={"variant": "b0"})  # fmt: skip
    assert history["completed"] and len(history["loss"]) == 12
    assert sum(history["loss"][-3:]) < sum(history["loss"][:3])
    log = json.loads((tmp_path / "log.json").read_text())
    assert log["step"] == 12 and log["run"]["variant"] == "b0" and log["run"]["steps"] == 12
    assert log["history"]["loss"] == history["loss"]


def test_resume_after_ctrl_c_is_exact(tmp_path):
    whole = _model()
    _run(whole, _pairs(), tmp_path / "whole.pt")

    def interrupt(step, loss):
        if step == 1:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends: the run stops at the end of this step

    parted = _model()
    with pytest.raises(KeyboardInterrupt):
        _run(parted, _pairs(), tmp_path / "parted.pt", on_step=interrupt)
    assert load_checkpoint(tmp_path / "parted.pt")["step"] == 2
    resumed = _model(seed=5)  # different initial weights: everything must come from the checkpoint
    history = _run(resumed, _pairs(), tmp_path / "parted.pt")
    assert history["completed"] and history["step"] == [0, 1, 2, 3]
    assert _same_state(whole, resumed)  # drop-path and dropout draws included: the random state was restored


def test_resume_after_an_error_and_after_a_time_limit_is_exact(tmp_path):
    whole = _model()
    _run(whole, _pairs(), tmp_path / "whole.pt", num_workers=0)

    def fail(step, loss):
        if step == 0:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        _run(_model(), _pairs(), tmp_path / "parted.pt", on_step=fail)
    assert load_checkpoint(tmp_path / "parted.pt")["step"] == 1
    history = _run(_model(), _pairs(), tmp_path / "parted.pt", max_seconds=0.0)
    assert not history["completed"] and load_checkpoint(tmp_path / "parted.pt")["step"] == 2
    resumed = _model(seed=3)
    _run(resumed, _pairs(), tmp_path / "parted.pt")
    assert _same_state(whole, resumed)


def test_a_checkpoint_for_other_settings_is_refused(tmp_path):
    _run(_model(), _pairs(), tmp_path / "ck.pt", steps=2)
    with pytest.raises(ValueError, match="steps: the checkpoint .* steps=2"):
        _run(_model(), _pairs(), tmp_path / "ck.pt", steps=3)
    with pytest.raises(ValueError, match="lr"):
        _run(_model(), _pairs(), tmp_path / "ck.pt", steps=2, lr=1e-3)


def test_a_non_finite_state_is_never_saved(tmp_path):
    model = _model()

    def corrupt(step, loss):
        if step == 1:
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))

    with pytest.raises(FloatingPointError, match="not finite after step 2"):
        _run(model, _pairs(), tmp_path / "ck.pt", checkpoint_every=1, on_step=corrupt)
    state = load_checkpoint(tmp_path / "ck.pt")
    assert state["step"] == 1
    assert all(bool(torch.isfinite(t).all()) for t in state["model"].values() if t.is_floating_point())


class _PerPixel(nn.Module):
    """A stand-in segmenter whose logits at a pixel depend on that pixel alone, at full resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return SimpleNamespace(logits=self.conv(x))


def test_sliding_windows_reassemble_the_whole_frame():
    torch.manual_seed(0)
    model = _PerPixel()
    from afno_tutorial.segformer.model import normalize

    for size in [(50, 70), (20, 24)]:  # overlapping windows with a remainder; a frame smaller than the crop
        images = torch.rand(2, 3, *size)
        expected = model(normalize(images)).logits
        torch.testing.assert_close(sliding_window_logits(model, images, crop=32, stride=24), expected)
    with pytest.raises(ValueError, match="stride"):
        sliding_window_logits(model, torch.rand(1, 3, 40, 40), crop=16, stride=20)


class _Oracle(nn.Module):
    """Reads the class off the image (channel c is 1 where the class is c): a perfect segmenter."""

    def forward(self, x):
        from afno_tutorial.segformer.model import IMAGENET_MEAN, IMAGENET_STD

        std, mean = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1), x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        return SimpleNamespace(logits=(x * std + mean) * 10)


def test_evaluation_of_a_perfect_model():
    masks = torch.randint(0, 2, (3, 40, 56))
    images = torch.stack([masks == c for c in range(3)], 1).float()
    masks[:, :5] = 255  # ignored pixels count for nothing
    result = evaluate_segformer(_Oracle(), SegmentationPairs(images, masks, ["x", "y", "z"]), crop=32, stride=16,
                                progress=False)  # fmt: skip
    assert result["miou"] == 1.0 and result["pixel_accuracy"] == 1.0 and result["frames"] == 3
    assert result["per_class_iou"]["x"] == 1.0 and result["per_class_iou"]["z"] != result["per_class_iou"]["z"]


def test_the_command_line_trains_resumes_and_evaluates(tmp_path, capsys):
    root = write_synthetic_cityscapes(tmp_path / "cityscapes", {"train": 3, "val": 1}, size=(48, 96))
    args = ["--root", str(root), "--variant", "b0", "--mixer", "afno", "--stages", "1", "2", "--crop", "32",
            "--steps", "3", "--batch-size", "2", "--warmup", "1", "--workers", "0", "--device", "cpu",
            "--no-progress", "--stride", "24"]  # fmt: skip
    assert cli.main(["train", *args, "--out", str(tmp_path / "whole")]) == 0
    assert cli.main(["train", *args, "--out", str(tmp_path / "parted"), "--max-seconds", "0"]) == 0
    assert "stopped at step 1 of 3" in capsys.readouterr().out
    assert cli.main(["train", *args, "--out", str(tmp_path / "parted"), "--eval"]) == 0
    whole, parted = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("whole", "parted"))
    assert whole["step"] == parted["step"] == 3
    assert all(torch.equal(whole["model"][k], parted["model"][k]) for k in whole["model"])
    report = json.loads((tmp_path / "parted" / "eval.json").read_text())
    assert len(report["per_class_iou"]) == 19 and 0.0 <= report["miou"] <= 1.0
    assert cli.main(["eval", "--root", str(root), "--checkpoint", str(tmp_path / "parted" / "checkpoint.pt"),
                     "--device", "cpu", "--no-progress", "--stride", "24"]) == 0  # fmt: skip
    again = json.loads((tmp_path / "parted" / "eval_val.json").read_text())
    assert again["miou"] == report["miou"] and again["run"]["mixer"] == "afno" and again["step"] == 3
    assert cli.main(["train", *args[2:], "--root", str(tmp_path / "missing")]) == 2
    assert "root" in capsys.readouterr().err
