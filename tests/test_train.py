"""Pretraining, few-shot training, metrics and checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from afno_tutorial import InpaintingModel, SegmentationModel, VisionBackbone
from afno_tutorial.data import make_pretraining_images, make_segmentation_set
from afno_tutorial.train import (
    chance_miou,
    confusion_matrix,
    cosine_schedule,
    dihedral,
    evaluate_inpainting,
    evaluate_segmentation,
    iou_from_confusion,
    load_backbone,
    miou,
    predict_masks,
    pretrain_inpainting,
    save_backbone,
    train_segmentation,
)

CONFIG = dict(dim=16, depth=1, patch_size=4, img_size=32, mixer="afno", mixer_kwargs={"num_blocks": 4})


def _inpainter(seed: int = 0, mixer: str = "afno") -> InpaintingModel:
    torch.manual_seed(seed)
    mixer_kwargs = CONFIG["mixer_kwargs"] if mixer == "afno" else {}
    return InpaintingModel(VisionBackbone(**{**CONFIG, "mixer": mixer, "mixer_kwargs": mixer_kwargs}))


@pytest.fixture(scope="module")
def images():
    return make_pretraining_images(32, size=32, seed=0)


def test_miou_hand_computed():
    # 2x3 image, 3 classes.
    target = torch.tensor([[0, 0, 1], [1, 2, 2]])
    pred = torch.tensor([[0, 1, 1], [1, 2, 0]])
    conf = confusion_matrix(pred, target, 3)
    assert conf.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # class 0: TP 1, FP 1, FN 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3; class 2: TP 1, FN 1 -> 1/2
    iou = iou_from_confusion(conf)
    assert iou.tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert miou(pred, target, 3) == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)


def test_miou_skips_absent_classes_and_ignore_label():
    target = torch.tensor([0, 0, 255, 1])
    pred = torch.tensor([0, 0, 2, 1])
    iou = iou_from_confusion(confusion_matrix(pred, target, 3))
    assert iou[:2].tolist() == [1.0, 1.0] and math.isnan(iou[2])
    assert miou(pred, target, 3) == 1.0


def test_chance_miou():
    masks = torch.tensor([0, 0, 0, 1])
    # majority: IoU(0)=3/4, IoU(1)=0 -> 0.375; uniform: (0.75/2)/(0.75+0.5-0.375)=0.4286, (0.25/2)/(0.25+0.5-0.125)=0.2
    assert chance_miou(masks, 2) == pytest.approx(max(0.375, (0.375 / 0.875 + 0.125 / 0.625) / 2))


def test_cosine_schedule():
    assert cosine_schedule(0, 100, 10) == pytest.approx(0.1)
    assert cosine_schedule(10, 100, 10) == pytest.approx(1.0)
    assert cosine_schedule(100, 100, 10) == pytest.approx(0.0)


def test_dihedral_are_eight_distinct_invertible_maps():
    x = torch.arange(16.0).reshape(1, 4, 4)
    views = [dihedral(x, k) for k in range(8)]
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8


def test_pretraining_lowers_the_loss_and_reports(images):
    model = _inpainter()
    before = evaluate_inpainting(model, images)
    history = pretrain_inpainting(model, images, steps=40, batch_size=8, lr=3e-3, progress=False)
    after = evaluate_inpainting(model, images)
    assert history["step"] == list(range(40)) and len(history["loss"]) == 40
    assert history["seconds_per_step"] > 0 and history["completed"]
    assert after["mse"] < 0.5 * before["mse"]
    assert after["psnr"] == pytest.approx(10 * math.log10(1 / after["mse"]))


def test_evaluate_inpainting_is_deterministic(images):
    model = _inpainter()
    assert evaluate_inpainting(model, images, seed=1) == evaluate_inpainting(model, images, seed=1)


def test_checkpoint_resume_equals_uninterrupted_run(images, tmp_path):
    straight = _inpainter()
    h_straight = pretrain_inpainting(straight, images, steps=8, batch_size=4, progress=False)

    ckpt = tmp_path / "run.pt"
    first = _inpainter()
    h_first = pretrain_inpainting(first, images, steps=8, batch_size=4, progress=False, checkpoint=ckpt,
                                  checkpoint_every=3, max_seconds=0.0)
    assert not h_first["completed"] and ckpt.exists()
    # Interrupt after some steps: a KeyboardInterrupt raised inside the loop still saves what was done.
    calls = {"n": 0}
    original = torch.optim.AdamW.step

    def flaky_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    torch.optim.AdamW.step = flaky_step
    try:
        with pytest.raises(KeyboardInterrupt):
            pretrain_inpainting(_inpainter(seed=5), images, steps=8, batch_size=4, progress=False, checkpoint=ckpt)
    finally:
        torch.optim.AdamW.step = original
    assert torch.load(ckpt, weights_only=False)["step"] == 3
    resumed = _inpainter(seed=7)  # different init: everything must come from the checkpoint
    h_resumed = pretrain_inpainting(resumed, images, steps=8, batch_size=4, progress=False, checkpoint=ckpt)
    assert h_resumed["completed"] and h_resumed["step"] == list(range(8))
    assert h_resumed["loss"] == pytest.approx(h_straight["loss"], rel=1e-5, abs=1e-7)
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # A finished checkpoint is loaded, not retrained.
    again = _inpainter(seed=9)
    pretrain_inpainting(again, images, steps=8, batch_size=4, progress=False, checkpoint=ckpt)
    for a, b in zip(straight.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_checkpoint_mismatch_errors(images, tmp_path):
    ckpt = tmp_path / "run.pt"
    pretrain_inpainting(_inpainter(), images, steps=2, batch_size=4, progress=False, checkpoint=ckpt)
    with pytest.raises(ValueError, match="steps"):
        pretrain_inpainting(_inpainter(), images, steps=3, batch_size=4, progress=False, checkpoint=ckpt)
    with pytest.raises(ValueError, match="does not match"):
        pretrain_inpainting(_inpainter(mixer="gfn"), images, steps=2, batch_size=4, progress=False, checkpoint=ckpt)


def test_bad_arguments(images):
    model = _inpainter()
    with pytest.raises(ValueError, match="steps"):
        pretrain_inpainting(model, images, steps=0)
    with pytest.raises(ValueError, match="images"):
        pretrain_inpainting(model, images[:, :1], steps=1)
    with pytest.raises(TypeError, match="model"):
        pretrain_inpainting(model.backbone, images, steps=1)


def test_backbone_round_trip(tmp_path):
    backbone = _inpainter().backbone
    save_backbone(backbone, tmp_path / "b.pt", CONFIG, {"note": "x"})
    loaded, meta = load_backbone(tmp_path / "b.pt")
    assert meta["note"] == "x" and meta["config"]["dim"] == 16
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), backbone.eval()(x))
    with pytest.raises(ValueError, match="path"):
        load_backbone(tmp_path / "missing.pt")


@pytest.fixture(scope="module")
def seg_data():
    train = make_segmentation_set(10, size=32, seed=0, layout="mosaic")
    test = make_segmentation_set(100, size=32, seed=0, layout="mosaic", start=1000)
    return train, test


def test_fast_few_shot_run_beats_chance():
    """16 labelled 32x32 mosaics of two textures, a tiny model fine-tuned in seconds: far above chance."""
    classes = ("grating_coarse", "noise_fine")
    train = make_segmentation_set(16, size=32, seed=0, layout="mosaic", classes=classes)
    test = make_segmentation_set(100, size=32, seed=0, layout="mosaic", start=1000, classes=classes)
    torch.manual_seed(0)
    model = SegmentationModel(VisionBackbone(dim=32, depth=1, patch_size=4, img_size=32, mixer="afno"), 2)
    history = train_segmentation(model, train.images, train.masks, steps=400, lr=1e-2, freeze_backbone=False,
                                 progress=False)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    result = evaluate_segmentation(model, test.images, test.masks)
    chance = chance_miou(test.masks, 2)
    assert len(result["per_class_iou"]) == 2
    assert result["miou"] > chance + 0.25, (result, chance)


def test_frozen_head_leaves_backbone_unchanged_and_finetune_changes_it(seg_data):
    train, _ = seg_data
    torch.manual_seed(0)
    model = SegmentationModel(VisionBackbone(**CONFIG), train.num_classes)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = model.head.weight.clone()
    train_segmentation(model, train.images[:2], train.masks[:2], steps=5, progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    assert not torch.equal(head_before, model.head.weight)
    train_segmentation(model, train.images[:2], train.masks[:2], steps=3, batch_size=2, freeze_backbone=False,
                       progress=False)
    assert not all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())


def test_segmentation_checkpoint_resume(seg_data, tmp_path):
    train, _ = seg_data

    def fresh():
        torch.manual_seed(0)
        return SegmentationModel(VisionBackbone(**CONFIG), train.num_classes)

    straight = fresh()
    train_segmentation(straight, train.images[:2], train.masks[:2], steps=6, progress=False)
    ckpt = tmp_path / "seg.pt"
    first = fresh()
    train_segmentation(first, train.images[:2], train.masks[:2], steps=6, progress=False, checkpoint=ckpt,
                       checkpoint_every=2)
    resumed = fresh()
    train_segmentation(resumed, train.images[:2], train.masks[:2], steps=6, progress=False, checkpoint=ckpt)
    torch.testing.assert_close(resumed.head.weight, straight.head.weight)


def test_segmentation_label_errors(seg_data):
    train, _ = seg_data
    model = SegmentationModel(VisionBackbone(**CONFIG), 2)
    with pytest.raises(ValueError, match="labels in 0..1"):
        train_segmentation(model, train.images[:2], train.masks[:2], steps=1, progress=False)


def test_ignore_label_is_skipped_by_the_loss_and_the_metrics(seg_data):
    from afno_tutorial.train import IGNORE_INDEX, pixel_cross_entropy

    train, _ = seg_data
    masks = train.masks[:2].clone()
    masks[:, :8] = IGNORE_INDEX  # a void band, as in VOC and Cityscapes masks
    logits = torch.randn(2, train.num_classes, 32, 32)
    keep = masks != IGNORE_INDEX
    expected = F.cross_entropy(logits.permute(0, 2, 3, 1)[keep], masks[keep])
    torch.testing.assert_close(pixel_cross_entropy(logits, masks), expected)
    assert pixel_cross_entropy(logits, torch.full_like(masks, IGNORE_INDEX)).item() == 0.0  # not the NaN of 0/0
    torch.manual_seed(0)
    model = SegmentationModel(VisionBackbone(**CONFIG), train.num_classes)
    history = train_segmentation(model, train.images[:2], masks, steps=3, progress=False)
    assert all(math.isfinite(v) for v in history["loss"])
    result = evaluate_segmentation(model, train.images[:2], masks)
    pred = predict_masks(model, train.images[:2])
    assert result["pixel_accuracy"] == pytest.approx(float((pred[keep] == masks[keep]).double().mean()))
