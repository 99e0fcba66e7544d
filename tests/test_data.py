"""The procedural segmentation set and ImageMaskFolder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from afno_tutorial.data import (
    BASE_CLASSES,
    CONTEXT_BASE_CLASSES,
    CONTEXT_NOVEL_CLASSES,
    CONTEXT_TEXTURES,
    NOVEL_CLASSES,
    TEXTURES,
    ImageMaskFolder,
    class_names,
    make_pretraining_images,
    make_segmentation_set,
    sample,
    texture,
)


def test_pretraining_images_shape_range_determinism():
    a = make_pretraining_images(6, size=32, seed=3)
    b = make_pretraining_images(6, size=32, seed=3)
    c = make_pretraining_images(6, size=32, seed=4)
    assert a.shape == (6, 3, 32, 32) and a.dtype == torch.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # Sample i does not depend on how many are drawn.
    assert torch.equal(make_pretraining_images(2, size=32, seed=3), a[:2])


def test_segmentation_set_shapes_labels_determinism():
    s = make_segmentation_set(8, size=48, seed=1)
    assert s.images.shape == (8, 3, 48, 48) and s.masks.shape == (8, 48, 48)
    assert s.masks.dtype == torch.long and s.class_names == list(NOVEL_CLASSES)
    assert int(s.masks.min()) >= 0 and int(s.masks.max()) < s.num_classes
    assert float(s.images.min()) >= 0.0 and float(s.images.max()) <= 1.0
    again = make_segmentation_set(8, size=48, seed=1)
    assert torch.equal(s.images, again.images) and torch.equal(s.masks, again.masks)
    shifted = make_segmentation_set(4, size=48, seed=1, start=4)
    assert torch.equal(shifted.masks, s.masks[4:])
    item = s[0]
    assert set(item) >= {"image", "mask", "class_names"}


def test_every_image_has_at_least_two_regions_and_all_classes_occur():
    s = make_segmentation_set(40, size=32, seed=0)
    assert all(len(m.unique()) >= 2 for m in s.masks)
    assert set(s.masks.unique().tolist()) == set(range(len(NOVEL_CLASSES)))


@pytest.mark.parametrize("layout", ["shapes", "mosaic"])
def test_layouts(layout):
    d = sample(0, 40, seed=2, split="all", layout=layout)
    assert d["layout"] == layout
    assert (len(d["shapes"]) > 0) == (layout == "shapes")
    assert int(d["mask"].max()) < len(TEXTURES)


def test_sizes_from_32_to_1024():
    big = sample(0, 1024, seed=0)
    assert big["image"].shape == (3, 1024, 1024) and big["mask"].shape == (1024, 1024)
    rect = sample(0, (32, 96), seed=0)
    assert rect["image"].shape == (3, 32, 96)
    with pytest.raises(ValueError, match="size"):
        sample(0, 16)
    with pytest.raises(ValueError, match="size"):
        sample(0, 2048)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="split"):
        make_segmentation_set(2, split="nope")
    with pytest.raises(ValueError, match="layout"):
        sample(0, layout="nope")
    with pytest.raises(ValueError, match="n"):
        make_pretraining_images(0)
    with pytest.raises(ValueError, match="name"):
        texture("nope", np.random.default_rng(0), 8, 8)


def test_base_and_novel_classes_are_disjoint():
    assert not set(BASE_CLASSES) & set(NOVEL_CLASSES)
    assert class_names("base") == list(BASE_CLASSES)
    assert set(class_names("all")) == set(TEXTURES)


@pytest.mark.parametrize("name", sorted(set(TEXTURES) - set(CONTEXT_TEXTURES)))
def test_textures_are_normalised(name):
    t = texture(name, np.random.default_rng(0), 64, 64)
    assert t.shape == (64, 64)
    assert abs(t.mean() - 0.5) < 0.05 and 0.1 < t.std() < 0.26


def test_gratings_differ_in_frequency():
    """The fine grating has its spectral peak at a higher radial frequency than the coarse one."""

    def peak(name: str) -> float:
        t = texture(name, np.random.default_rng(1), 64, 64) - 0.5
        power = np.abs(np.fft.fft2(t)) ** 2
        fy, fx = np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64), indexing="ij")
        i = np.unravel_index(power.argmax(), power.shape)
        return float(np.hypot(fy[i], fx[i]))

    assert peak("grating_fine") > 2 * peak("grating_coarse")


# ---------------------------------------------------------------------------------------------------- folder


def _write(root, stems_images, stems_masks, size=(8, 10), mask_size=None, label=2, suffix=".png"):
    from skimage.io import imsave

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for stem in stems_images:
        image = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        imsave(root / "images" / f"{stem}{suffix}", image, check_contrast=False)
    for stem in stems_masks:
        mask = np.zeros(mask_size or size, dtype=np.uint8)
        mask[0, 0] = label
        imsave(root / "masks" / f"{stem}.png", mask, check_contrast=False)


def test_folder_loads_pairs(tmp_path):
    _write(tmp_path, ["a", "b"], ["a", "b"])
    folder = ImageMaskFolder(tmp_path)
    assert len(folder) == 2 and folder.num_classes == 3
    item = folder[0]
    assert item["name"] == "a" and item["image"].shape == (3, 8, 10) and item["image"].dtype == torch.float32
    assert item["mask"].dtype == torch.long and int(item["mask"].max()) == 2
    images, masks = folder.stack()
    assert images.shape == (2, 3, 8, 10) and masks.shape == (2, 8, 10)


def test_folder_jpg_images(tmp_path):
    _write(tmp_path, ["a"], ["a"], suffix=".jpg")
    assert len(ImageMaskFolder(tmp_path, num_classes=4)) == 1


def test_folder_missing_root_and_subfolders(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ImageMaskFolder(tmp_path / "nothing")
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="masks/"):
        ImageMaskFolder(tmp_path)
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ImageMaskFolder(tmp_path)


def test_folder_unmatched_files(tmp_path):
    _write(tmp_path, ["a", "b"], ["a"])
    with pytest.raises(ValueError, match=r"no mask .*\['b'\]"):
        ImageMaskFolder(tmp_path)
    _write(tmp_path / "other", ["a"], ["a", "c"])
    with pytest.raises(ValueError, match=r"no image .*\['c'\]"):
        ImageMaskFolder(tmp_path / "other")


def test_folder_size_mismatch(tmp_path):
    _write(tmp_path, ["a"], ["a"], size=(8, 10), mask_size=(8, 9))
    with pytest.raises(ValueError, match="same size"):
        ImageMaskFolder(tmp_path)


def test_folder_label_out_of_range(tmp_path):
    _write(tmp_path, ["a"], ["a"], label=7)
    with pytest.raises(ValueError, match=r"label 7; expected class indices 0..2"):
        ImageMaskFolder(tmp_path, num_classes=3)
    with pytest.raises(ValueError, match="class_names"):
        ImageMaskFolder(tmp_path, num_classes=8, class_names=["x"])


def test_folder_rgb_mask_is_rejected(tmp_path):
    from skimage.io import imsave

    _write(tmp_path, ["a"], [])
    imsave(tmp_path / "masks" / "a.png", np.zeros((8, 10, 3), dtype=np.uint8), check_contrast=False)
    with pytest.raises(ValueError, match="single-channel"):
        ImageMaskFolder(tmp_path)


def _write_mask(root, stem, array, mode=None, palette=None):
    from PIL import Image

    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    if palette is not None:
        image = Image.fromarray(array, mode="P")
        image.putpalette(palette)
    image.save(root / "masks" / f"{stem}.png")


def test_folder_label_255_is_the_ignore_label_not_a_class(tmp_path):
    _write(tmp_path, ["a"], [])
    mask = np.zeros((8, 10), dtype=np.uint8)
    mask[:, 5:] = 1
    mask[0] = 255
    _write_mask(tmp_path, "a", mask)
    folder = ImageMaskFolder(tmp_path)
    assert folder.num_classes == 2 and len(folder.class_names) == 2
    assert int((folder[0]["mask"] == 255).sum()) == 10  # kept as the ignore label for losses and metrics


def test_folder_labels_beyond_255_are_refused_not_made_classes(tmp_path):
    _write(tmp_path, ["a"], [])
    mask = np.zeros((8, 10), dtype=np.uint16)
    mask[0, 0] = 1000
    _write_mask(tmp_path, "a", mask)
    with pytest.raises(ValueError,
                       match=r"^num_classes: cannot infer it: .*a.png has label 1000; expected class indices 0..254"):
        ImageMaskFolder(tmp_path)
    with pytest.raises(ValueError, match=r"^masks: .*a.png has label 1000; expected class indices 0..3"):
        ImageMaskFolder(tmp_path, num_classes=4)


def test_folder_palette_masks_are_read_as_their_indices(tmp_path):
    """Pascal VOC stores masks as palette PNGs: the index is the class, the colour only shows it."""
    _write(tmp_path, ["a"], [])
    mask = np.zeros((8, 10), dtype=np.uint8)
    mask[2:6, 3:7] = 2
    mask[0, :] = 255
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [224, 224, 192] * 253  # VOC-like: 255 drawn cream
    _write_mask(tmp_path, "a", mask, palette=palette)
    folder = ImageMaskFolder(tmp_path)
    assert folder.num_classes == 3
    assert torch.equal(folder[0]["mask"], torch.from_numpy(mask.astype(np.int64)))


def test_folder_one_bit_masks_are_zero_and_one(tmp_path):
    _write(tmp_path, ["a"], [])
    mask = np.zeros((8, 10), dtype=np.uint8)
    mask[:4] = 255
    _write_mask(tmp_path, "a", mask, mode="1")
    folder = ImageMaskFolder(tmp_path)
    assert folder.num_classes == 2
    assert torch.equal(folder[0]["mask"], torch.from_numpy((mask > 0).astype(np.int64)))


def test_folder_wrong_length_class_names_is_named(tmp_path):
    _write(tmp_path, ["a"], ["a"], label=2)
    with pytest.raises(ValueError,
                       match=r"^class_names: 2 names, but .*a.png has label 2; expected one name per class"):
        ImageMaskFolder(tmp_path, class_names=["background", "cat"])
    with pytest.raises(ValueError, match=r"^class_names: expected 3 names \(num_classes\), got 2"):
        ImageMaskFolder(tmp_path, num_classes=3, class_names=["background", "cat"])


def _local_std(t: np.ndarray, k: int = 4) -> np.ndarray:
    h, w = (t.shape[0] // k) * k, (t.shape[1] // k) * k
    return t[:h, :w].reshape(h // k, k, w // k, k).std(axis=(1, 3))


def test_context_classes_share_the_carrier_and_differ_in_arrangement():
    """Through a 4x4 window every context class shows the carrier at one contrast, or grey (part of the carrier at
    an edge of the arrangement); what differs is the fraction of windows that show carrier (the arrangement)."""
    from afno_tutorial.data.textures import CARRIER_STD

    covered = {}
    for name in CONTEXT_TEXTURES:
        t = texture(name, np.random.default_rng(0), 256, 256)
        local = _local_std(t)
        on = local > CARRIER_STD / 2
        covered[name] = on.mean()
        assert 0.6 * CARRIER_STD < np.median(local[on]) < 1.2 * CARRIER_STD  # the same contrast in every class
        if (~on).any():  # the other windows are grey or, at an edge of the arrangement, hold part of the carrier
            assert np.quantile(local[~on], 0.1) < 0.2 * CARRIER_STD and np.median(local[~on]) < 0.4 * CARRIER_STD
    for carrier in ("noise", "grating"):
        assert covered[f"{carrier}_spots"] < 0.45 < covered[f"{carrier}_stripes"] < covered[f"{carrier}_holes"]
    assert set(CONTEXT_BASE_CLASSES).isdisjoint(CONTEXT_NOVEL_CLASSES)
    assert set(CONTEXT_BASE_CLASSES) | set(CONTEXT_NOVEL_CLASSES) == set(CONTEXT_TEXTURES)


def test_pretraining_images_of_the_context_split_are_unlabelled_base_classes():
    images = make_pretraining_images(3, size=32, seed=0, split="context_base")
    assert images.shape == (3, 3, 32, 32)
    assert not torch.equal(images, make_pretraining_images(3, size=32, seed=0))
    assert make_segmentation_set(2, size=32, split="context_novel").class_names == list(CONTEXT_NOVEL_CLASSES)
