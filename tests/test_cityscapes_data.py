"""Cityscapes reader: the layout, the label mapping from the official table, errors, SegFormer's augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("cityscapesscripts")

from afno_tutorial.data import Cityscapes, SegFormerAugment, write_synthetic_cityscapes  # noqa: E402
from afno_tutorial.data.augment import random_crop  # noqa: E402
from afno_tutorial.data.cityscapes import (  # noqa: E402
    CITYSCAPES_ENV,
    class_names,
    label_ids_to_train_ids,
    train_id_lut,
)

# Label id -> train id for a few classes, from the Cityscapes documentation (labels.py of cityscapesScripts).
KNOWN = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12, 26: 13,
         27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
IGNORED = {0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18, 29, 30}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_synthetic_cityscapes(tmp_path_factory.mktemp("cityscapes"), {"train": 3, "val": 2}, size=(48, 96))


def test_synthetic_tree_has_the_exact_layout_and_ignored_ids(tree):
    images = sorted((tree / "leftImg8bit" / "train").glob("*/*"))
    labels = sorted((tree / "gtFine" / "train").glob("*/*"))
    assert [p.name for p in images] == ["aachen_000000_000019_leftImg8bit.png", "aachen_000002_000021_leftImg8bit.png",
                                        "bochum_000001_000020_leftImg8bit.png"]  # fmt: skip
    assert [p.name.replace("gtFine_labelIds", "leftImg8bit") for p in labels] == [p.name for p in images]
    from PIL import Image

    ids = set(np.unique(np.concatenate([np.asarray(Image.open(p)).ravel() for p in labels])).tolist())
    assert {0, 1, 3, 9} <= ids  # unlabeled, ego vehicle, out of roi, parking: all ignored
    assert {7, 11, 23, 26} <= ids  # road, building, sky, car


def test_label_mapping_is_the_official_table():
    lut = train_id_lut()
    for label_id, train_id in KNOWN.items():
        assert int(lut[label_id]) == train_id
    for label_id in IGNORED | set(range(34, 256)):
        assert int(lut[label_id]) == 255
    assert sorted(lut[lut != 255].tolist()) == list(range(19))  # each train id from exactly one label id
    assert class_names()[0] == "road" and class_names()[10] == "sky" and class_names()[18] == "bicycle"
    ids = torch.tensor([[7, 1, 26], [0, 33, 9]], dtype=torch.uint8)
    assert label_ids_to_train_ids(ids).tolist() == [[0, 255, 13], [255, 18, 255]]


def test_items_are_float_images_and_train_id_masks(tree):
    from PIL import Image

    data = Cityscapes(tree, "val")
    assert len(data) == 2 and data.num_classes == 19
    image, mask = data[0]
    assert image.shape == (3, 48, 96) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert mask.shape == (48, 96) and mask.dtype == torch.long
    raw = torch.from_numpy(np.array(Image.open(data.labels[0])).astype(np.int64))
    assert torch.equal(mask, train_id_lut()[raw])
    assert bool((mask == 255).any()) and set(mask.unique().tolist()) <= set(range(19)) | {255}


def test_root_defaults_to_the_environment_variable(tree, monkeypatch):
    monkeypatch.setenv(CITYSCAPES_ENV, str(tree))
    assert len(Cityscapes(split="train")) == 3
    monkeypatch.delenv(CITYSCAPES_ENV)
    with pytest.raises(ValueError, match=CITYSCAPES_ENV):
        Cityscapes(split="train")


def test_missing_folder_and_missing_annotation_are_named(tree, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        Cityscapes(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"leftImg8bit.test"):
        Cityscapes(tree, "test")
    copy = write_synthetic_cityscapes(tmp_path / "copy", {"train": 2}, size=(32, 32))
    victim = sorted((copy / "gtFine" / "train").glob("*/*"))[1]
    victim.unlink()
    with pytest.raises(ValueError, match=f"missing annotation .*{victim.name}"):
        Cityscapes(copy, "train")


def test_bad_arguments_are_refused(tree):
    with pytest.raises(ValueError, match="split"):
        Cityscapes(tree, "training")
    with pytest.raises(ValueError, match="crop_size"):
        Cityscapes(tree, "val", crop_size=32, augment=False)
    with pytest.raises(ValueError, match="crop_size"):
        Cityscapes(tree, "train", augment=True)
    with pytest.raises(ValueError, match="cities"):
        Cityscapes(tree, "train", cities=["berlin"])
    with pytest.raises(ValueError, match="scale_range"):
        SegFormerAugment(32, scale_range=(2.0, 0.5))


def test_augmentation_is_a_function_of_its_generator(tree):
    data = Cityscapes(tree, "train", crop_size=40)
    image, mask = data.load(0)
    a = data.augment(image, mask, torch.Generator().manual_seed(3))
    b = data.augment(image, mask, torch.Generator().manual_seed(3))
    c = data.augment(image, mask, torch.Generator().manual_seed(4))
    assert a[0].shape == (3, 40, 40) and a[1].shape == (40, 40)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert set(a[1].unique().tolist()) <= set(mask.unique().tolist())  # nearest resize invents no label
    assert 0.0 <= float(a[0].min()) and float(a[0].max()) <= 1.0


def test_without_rescale_the_crop_is_the_frame_or_its_mirror():
    image, mask = torch.rand(3, 8, 12), torch.randint(0, 19, (8, 12))
    augment = SegFormerAugment((8, 12), scale_range=(1.0, 1.0), photometric=False, cat_max_ratio=1.0)
    flips = set()
    for seed in range(12):
        out_image, out_mask = augment(image, mask, torch.Generator().manual_seed(seed))
        flipped = torch.equal(out_mask, mask.flip(-1)) and torch.equal(out_image, image.flip(-1))
        assert flipped or (torch.equal(out_mask, mask) and torch.equal(out_image, image))
        flips.add(flipped)
    assert flips == {True, False}


def test_small_images_are_padded_with_the_ignore_label():
    image, mask = torch.rand(3, 10, 20), torch.zeros(10, 20, dtype=torch.long)
    augment = SegFormerAugment(32, scale_range=(1.0, 1.0), photometric=False)
    out_image, out_mask = augment(image, mask, torch.Generator().manual_seed(0))
    assert out_image.shape == (3, 32, 32) and out_mask.shape == (32, 32)
    assert bool((out_mask[10:] == 255).all()) and bool((out_mask[:, 20:] == 255).all())
    assert bool((out_mask[:10, :20] == 0).all()) and float(out_image[:, 10:].abs().max()) == 0.0


def test_crops_are_redrawn_while_one_class_dominates():
    mask = torch.zeros(8, 16, dtype=torch.long)
    mask[:, 8:] = 1  # a crop of width 8 is mixed enough (< 75 % of one class) only at offsets 3, 4, 5
    image = torch.rand(3, 8, 16)

    def balanced(ratio: float, seed: int) -> bool:
        _, crop = random_crop(image, mask, (8, 8), torch.Generator().manual_seed(seed), cat_max_ratio=ratio)
        share = float((crop == 0).float().mean())
        return max(share, 1 - share) < 0.75

    assert sum(balanced(0.75, seed) for seed in range(20)) >= 18  # each fails with probability (6/9)^10
    assert sum(balanced(1.0, seed) for seed in range(20)) <= 14  # without the rule: 3 offsets in 9
