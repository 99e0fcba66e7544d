"""The training loop: exact resume from a real Ctrl-C wherever it lands, nothing non-finite saved, resume settings."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from afno_tutorial import InpaintingModel, SegmentationModel, VisionBackbone
from afno_tutorial.data import make_pretraining_images, make_segmentation_set
from afno_tutorial.train import load_backbone, pretrain_inpainting, train_segmentation

# drop_path > 0: the run draws from the global random generator too (stochastic depth), which must resume exactly.
CONFIG = dict(dim=16, depth=2, patch_size=4, img_size=16, mixer="afno", mixer_kwargs={"num_blocks": 4}, drop_path=0.2)
RUN = dict(steps=8, batch_size=4, progress=False, checkpoint_every=3)


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Ctrl-C as a user's Python has it (raise KeyboardInterrupt), whatever an earlier test left installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _model(seed: int = 0) -> InpaintingModel:
    torch.manual_seed(seed)
    return InpaintingModel(VisionBackbone(**CONFIG))


@pytest.fixture(scope="module")
def images():
    return make_pretraining_images(12, size=32, seed=0)[..., ::2, ::2].contiguous()  # 16x16: quick


@pytest.fixture(scope="module")
def straight(images, tmp_path_factory):
    """An uninterrupted run: its final checkpoint (weights, optimizer, schedule, history)."""
    path = tmp_path_factory.mktemp("straight") / "run.pt"
    pretrain_inpainting(_model(), images, checkpoint=path, **RUN)
    return torch.load(path, weights_only=False)


def _assert_same_state(a: dict, b: dict) -> None:
    """Bit for bit: weights, optimizer moments and step counts, schedule, step, history."""
    assert a["step"] == b["step"]
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for index, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][index][key]), (index, key)
    assert a["scheduler"] == b["scheduler"]
    for key in ("step", "loss", "lr"):
        assert a["history"][key] == b["history"][key], key


def _sigint_on(call: int):
    """A hook that sends this process a real SIGINT on its ``call``-th call."""
    calls = {"n": 0}

    def hook(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            os.kill(os.getpid(), signal.SIGINT)

    return hook


def _install(where: str, call: int, model: torch.nn.Module):
    hook = _sigint_on(call)
    if where == "after an optimizer step":
        return register_optimizer_step_post_hook(hook)
    if where == "before an optimizer step":
        return register_optimizer_step_pre_hook(hook)
    if where == "in the forward pass":
        return model.backbone.blocks[1].register_forward_pre_hook(hook)
    if where == "in the backward pass":
        return model.backbone.pos_embed.register_hook(lambda grad: hook())
    raise AssertionError(where)


@pytest.mark.parametrize("where", ["after an optimizer step", "before an optimizer step", "in the forward pass",
                                   "in the backward pass"])
def test_sigint_anywhere_resumes_bit_for_bit(images, straight, tmp_path, where):
    path = tmp_path / "run.pt"
    model = _model()
    handle = _install(where, 5, model)
    try:
        with pytest.raises(KeyboardInterrupt):
            pretrain_inpainting(model, images, checkpoint=path, **RUN)
    finally:
        handle.remove()
    saved = torch.load(path, weights_only=False)
    # One consistent state: the optimizer has done exactly as many updates as the checkpoint's step count.
    assert 0 < saved["step"] < RUN["steps"] and len(saved["history"]["loss"]) == saved["step"]
    assert all(int(s["step"]) == saved["step"] for s in saved["optimizer"]["state"].values())
    assert saved["scheduler"]["last_epoch"] == saved["step"]
    pretrain_inpainting(_model(seed=3), images, checkpoint=path, **RUN)  # other init: all comes from the file
    _assert_same_state(torch.load(path, weights_only=False), straight)


def test_repeated_interrupts_resume_bit_for_bit(images, straight, tmp_path):
    path = tmp_path / "run.pt"
    for init, call in ((0, 2), (5, 3), (6, 2)):  # the first run's init matters, later ones are overwritten
        handle = register_optimizer_step_post_hook(_sigint_on(call))
        try:
            with pytest.raises(KeyboardInterrupt):
                pretrain_inpainting(_model(seed=init), images, checkpoint=path, **RUN)
        finally:
            handle.remove()
    assert torch.load(path, weights_only=False)["step"] == 7
    pretrain_inpainting(_model(seed=9), images, checkpoint=path, **RUN)
    _assert_same_state(torch.load(path, weights_only=False), straight)


def test_training_leaves_the_global_random_state_alone(images):
    model = _model()
    before = torch.get_rng_state()
    pretrain_inpainting(model, images, steps=3, batch_size=4, progress=False)
    assert torch.equal(torch.get_rng_state(), before)


# ------------------------------------------------------------------------------------------------- non-finite


def _poison_output_on(call: int, model: InpaintingModel):
    calls = {"n": 0}

    def hook(module, args, output):
        calls["n"] += 1
        return output * float("nan") if calls["n"] == call else output

    return model.head.register_forward_hook(hook)


def _all_finite(state: dict) -> bool:
    tensors = list(state["model"].values())
    tensors += [v for s in state["optimizer"]["state"].values() for v in s.values()]
    return all(torch.isfinite(t).all() for t in tensors if t.is_floating_point())


def test_nan_loss_stops_keeps_the_last_good_state_and_resumes_exactly(images, straight, tmp_path):
    path = tmp_path / "run.pt"
    model = _model()
    handle = _poison_output_on(6, model)  # the loss of step 5 is NaN
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 5: training stopped .* keeps step 5"):
        pretrain_inpainting(model, images, checkpoint=path, **RUN)
    handle.remove()
    saved = torch.load(path, weights_only=False)
    assert saved["step"] == 5 and _all_finite(saved)
    assert all(torch.isfinite(p).all() for p in model.parameters())  # nothing NaN was applied
    pretrain_inpainting(_model(seed=4), images, checkpoint=path, **RUN)  # a transient fault: resume
    _assert_same_state(torch.load(path, weights_only=False), straight)


def test_nan_gradient_stops_before_the_step(images, tmp_path):
    path = tmp_path / "run.pt"
    model = _model()
    calls = {"n": 0}

    def poison(grad):
        calls["n"] += 1
        return grad * float("nan") if calls["n"] == 4 else grad

    model.mask_token.register_hook(poison)
    with pytest.raises(FloatingPointError, match=r"a gradient is not finite at step 3"):
        pretrain_inpainting(model, images, checkpoint=path, **RUN)
    saved = torch.load(path, weights_only=False)
    assert saved["step"] == 3 and _all_finite(saved)


def test_non_finite_weights_are_never_saved(images, tmp_path):
    path = tmp_path / "run.pt"
    model = _model()
    calls = {"n": 0}

    def corrupt(optimizer, args, kwargs):  # weights become inf after the 4th step (the checkpoint holds step 3)
        calls["n"] += 1
        if calls["n"] == 4:
            with torch.no_grad():
                model.head.weight[0, 0] = float("inf")

    handle = register_optimizer_step_post_hook(corrupt)
    try:
        with pytest.raises(FloatingPointError, match="not finite"):
            pretrain_inpainting(model, images, checkpoint=path, **RUN)
    finally:
        handle.remove()
    saved = torch.load(path, weights_only=False)
    assert saved["step"] == 3 and _all_finite(saved)


# ------------------------------------------------------------------------------------------- resume settings


def _interrupted_at(step: int, images, path, **kwargs) -> None:
    handle = register_optimizer_step_post_hook(_sigint_on(step))
    try:
        with pytest.raises(KeyboardInterrupt):
            pretrain_inpainting(_model(), images, checkpoint=path, **{**RUN, **kwargs})
    finally:
        handle.remove()


def test_resume_takes_the_learning_rate_passed_now(images, tmp_path):
    path = tmp_path / "run.pt"
    _interrupted_at(4, images, path, lr=1e-3)
    history = pretrain_inpainting(_model(), images, checkpoint=path, **{**RUN, "lr": 2.5e-4})
    reference = pretrain_inpainting(_model(), images, **{**RUN, "lr": 2.5e-4})
    assert history["lr"][4:] == reference["lr"][4:]
    assert history["changes"] == [{"step": 4, "lr": [2.5e-4], "weight_decay": [0.05]}]
    state = torch.load(path, weights_only=False)
    assert state["optimizer"]["param_groups"][0]["initial_lr"] == 2.5e-4


@pytest.mark.parametrize("setting, value", [("batch_size", 2), ("seed", 1), ("mask_ratio", 0.25)])
def test_resume_refuses_other_settings(images, tmp_path, setting, value):
    path = tmp_path / "run.pt"
    _interrupted_at(2, images, path)
    with pytest.raises(ValueError, match=rf"^{setting}: the checkpoint .* was made with {setting}="):
        pretrain_inpainting(_model(), images, checkpoint=path, **{**RUN, setting: value})


def test_resume_refuses_other_images(images, tmp_path):
    path = tmp_path / "run.pt"
    _interrupted_at(2, images, path)
    with pytest.raises(ValueError, match=r"^images: the checkpoint .* was made with other images"):
        pretrain_inpainting(_model(), images[:8], checkpoint=path, **RUN)


def test_segmentation_resume_refuses_other_masks(tmp_path):
    images, masks, num_classes = _segmentation_data()
    torch.manual_seed(0)
    model = SegmentationModel(VisionBackbone(**CONFIG), num_classes)
    path = tmp_path / "seg.pt"
    train_segmentation(model, images, masks, steps=2, progress=False, checkpoint=path)
    with pytest.raises(ValueError, match=r"^masks: the checkpoint .* was made with other masks"):
        train_segmentation(model, images, masks.flip(-1), steps=2, progress=False, checkpoint=path)


def _segmentation_data() -> tuple[torch.Tensor, torch.Tensor, int]:
    data = make_segmentation_set(2, size=32, seed=0, layout="mosaic")
    return data.images[..., ::2, ::2].contiguous(), data.masks[..., ::2, ::2].contiguous(), data.num_classes


def test_corrupt_checkpoints_are_named(images, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=rf"checkpoint: {garbage} is not a readable checkpoint"):
        pretrain_inpainting(_model(), images, checkpoint=garbage, **RUN)
    truncated = tmp_path / "truncated.pt"
    pretrain_inpainting(_model(), images, checkpoint=truncated, **{**RUN, "steps": 2})
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    with pytest.raises(ValueError, match=rf"{truncated} is not a readable checkpoint"):
        pretrain_inpainting(_model(), images, checkpoint=truncated, **{**RUN, "steps": 2})
    with pytest.raises(ValueError, match=rf"{garbage} is not a readable checkpoint"):
        load_backbone(garbage)
    not_a_backbone = tmp_path / "state.pt"
    torch.save({"kind": "inpainting"}, not_a_backbone)
    with pytest.raises(ValueError, match=rf"path: {not_a_backbone} is not a backbone checkpoint"):
        load_backbone(not_a_backbone)


@pytest.mark.parametrize(
    "setting, value, message",
    [
        ("lr", float("inf"), r"lr: expected a finite float > 0, got inf"),
        ("weight_decay", float("nan"), r"weight_decay: expected a finite float >= 0, got nan"),
        ("weight_decay", -0.1, r"weight_decay: expected a finite float >= 0, got -0.1"),
        ("mask_ratio", float("nan"), r"mask_ratio: expected a finite float >= 0 and < 1, got nan"),
        ("max_seconds", float("nan"), r"max_seconds: expected a finite float >= 0, got nan"),
        ("checkpoint_every", 0, r"checkpoint_every: expected a positive int, got 0"),
        ("seed", 1.5, r"seed: expected an int, got float"),
    ],
)
def test_bad_training_settings_are_named(images, setting, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        pretrain_inpainting(_model(), images, **{**RUN, setting: value})


def test_segmentation_settings_are_checked_too():
    images, masks, num_classes = _segmentation_data()
    model = SegmentationModel(VisionBackbone(**CONFIG), num_classes)
    with pytest.raises(ValueError, match=r"lr: expected a finite float > 0, got inf"):
        train_segmentation(model, images, masks, steps=2, lr=float("inf"), progress=False)
    with pytest.raises(ValueError, match=r"weight_decay: expected a finite float >= 0, got nan"):
        train_segmentation(model, images, masks, steps=2, weight_decay=float("nan"), progress=False)
