"""Bad input raises a ValueError/TypeError that names the argument and what was expected."""

from __future__ import annotations

import pytest
import torch

from afno_tutorial import (
    AFNO2d,
    GlobalFilter2d,
    InpaintingModel,
    SegmentationModel,
    SelfAttention2d,
    SpectralConv2d,
    VisionBackbone,
    build_mixer,
    random_patch_mask,
    seed_everything,
)

MIXERS = {
    "afno": lambda: AFNO2d(16, num_blocks=4),
    "fno": lambda: SpectralConv2d(16, (2, 2)),
    "gfn": lambda: GlobalFilter2d(16, (8, 8)),
    "attention": lambda: SelfAttention2d(16, num_heads=4),
}


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: AFNO2d(30, num_blocks=8), ValueError, r"dim: expected a multiple of num_blocks=8, got dim=30"),
        (lambda: AFNO2d(16, hard_thresholding_fraction=0.0), ValueError, r"hard_thresholding_fraction: .*> 0 and <= 1"),
        (lambda: AFNO2d(16, hard_thresholding_fraction=1.5), ValueError, r"hard_thresholding_fraction: .*> 0 and <= 1"),
        (lambda: AFNO2d(16, hard_thresholding_fraction="half"), TypeError, r"hard_thresholding_fraction"),
        (lambda: AFNO2d(16, sparsity_threshold=-0.1), ValueError, r"sparsity_threshold: expected a finite float >= 0"),
        (lambda: AFNO2d(16, sparsity_threshold=float("nan")), ValueError, r"sparsity_threshold: .* got nan"),
        (lambda: AFNO2d(16, fft_norm="none"), ValueError, r"fft_norm: expected one of"),
        (lambda: AFNO2d(16, modes=(0, 3)), ValueError, r"modes: expected positive"),
        (lambda: AFNO2d(16, modes=(2.5, 3)), TypeError, r"modes: expected a pair of ints"),
        (lambda: AFNO2d(16, mlp_layers=3), ValueError, r"mlp_layers: expected 1 or 2"),
        (lambda: AFNO2d(0), ValueError, r"dim: expected a positive int"),
        (lambda: SpectralConv2d(12, (2, 2), num_blocks=5), ValueError, r"dim: expected a multiple of num_blocks=5"),
        (lambda: GlobalFilter2d(8, (0, 4)), ValueError, r"size: expected positive"),
        (lambda: SelfAttention2d(10, num_heads=4), ValueError, r"dim: expected a multiple of num_heads=4"),
        (lambda: build_mixer("transformer", 8), ValueError, r"name: expected one of \['afno'"),
        (lambda: VisionBackbone(img_size=30, patch_size=4), ValueError,
         r"img_size: expected multiples of patch_size=4"),
        (lambda: SegmentationModel(torch.nn.Linear(2, 2), 3), TypeError, r"backbone: expected a VisionBackbone"),
        (lambda: SegmentationModel(VisionBackbone(dim=16, depth=1), 0), ValueError, r"num_classes"),
        (lambda: random_patch_mask(1, (4, 4), ratio=1.0), ValueError, r"ratio: expected a fraction in \[0, 1\)"),
        (lambda: seed_everything(1.5), TypeError, r"seed: expected an int"),
    ],
)
def test_constructor_errors(build, error, message):
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("name", MIXERS)
@pytest.mark.parametrize(
    "x, error, message",
    [
        (torch.randn(2, 8, 8, 12), ValueError, r"x: expected 16 channels in the last dimension"),
        (torch.randn(8, 8, 16), ValueError, r"x: expected 4 dimensions \(B, H, W, C\), got shape \(8, 8, 16\)"),
        (torch.randint(0, 5, (1, 8, 8, 16)), TypeError,
         r"x: expected a real floating-point tensor, got dtype torch.int64"),
        (torch.randn(1, 8, 8, 16, dtype=torch.complex64), TypeError, r"x: expected a real floating-point tensor"),
        (torch.randn(1, 8, 8, 16).numpy(), TypeError, r"x: expected a torch.Tensor, got ndarray"),
    ],
)
def test_forward_input_errors(name, x, error, message):
    with pytest.raises(error, match=message):
        MIXERS[name]()(x)


def test_modes_larger_than_the_grid():
    with pytest.raises(ValueError,
                       match=r"modes: \(6, 2\) is larger than the grid allows for H=8, W=8: expected m_y <= 5"):
        AFNO2d(16, modes=(6, 2))(torch.randn(1, 8, 8, 16))
    with pytest.raises(ValueError, match=r"expected m_y <= 4 and m_x <= 5"):
        SpectralConv2d(16, (5, 2))(torch.randn(1, 8, 8, 16))


def test_image_errors():
    backbone = VisionBackbone(dim=16, depth=1, patch_size=4, img_size=32)
    with pytest.raises(ValueError, match=r"images: image size 30x32 is not divisible by patch_size=4"):
        backbone(torch.randn(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"images: expected 3 channels"):
        backbone(torch.randn(1, 1, 32, 32))
    with pytest.raises(TypeError, match=r"images: expected a real floating-point tensor"):
        backbone(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"patch_mask: expected a bool tensor of shape \(1, 8, 8\)"):
        InpaintingModel(backbone)(torch.randn(1, 3, 32, 32), torch.zeros(1, 4, 4, dtype=torch.bool))


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: VisionBackbone(patch_size=0), ValueError, r"^patch_size: expected a positive int, got 0"),
        (lambda: VisionBackbone(img_size=0), ValueError, r"^img_size: expected positive sizes, got \(0, 0\)"),
        (lambda: VisionBackbone(img_size=(32, -4)), ValueError, r"^img_size: expected positive sizes"),
        (lambda: VisionBackbone(img_size="64"), TypeError, r"^img_size: expected an int or a pair of ints"),
        (lambda: VisionBackbone(dim=16, mlp_ratio=float("nan")), ValueError,
         r"^mlp_ratio: expected a finite float > 0, got nan"),
        (lambda: VisionBackbone(dim=16, mlp_ratio=float("inf")), ValueError,
         r"^mlp_ratio: expected a finite float > 0, got inf"),
        (lambda: build_mixer(["afno"], 8), TypeError, r"^name: expected a str, got list"),
        (lambda: build_mixer(None, 8), TypeError, r"^name: expected a str, got NoneType"),
    ],
)
def test_backbone_and_registry_arguments_are_named(build, error, message):
    with pytest.raises(error, match=message):
        build()


def _decoder(**weights):
    from afno_tutorial.fewshot import MaskedAutoencoder

    return MaskedAutoencoder(VisionBackbone(dim=16, depth=1, img_size=32), **weights)


def _benchmark(**settings):
    from afno_tutorial.bench import run_benchmark

    return run_benchmark(["copy"], [4], dim=8, repeats=1, memory=False, progress=False, **settings)


@pytest.mark.parametrize(
    "build, message",
    [
        # NaN compares false with every bound, so a check written as `value < 0` would let it through.
        (lambda: AFNO2d(16, sparsity_threshold=float("inf")), r"^sparsity_threshold: expected a finite float >= 0"),
        (lambda: _decoder(visible_weight=float("nan")), r"^visible_weight: expected a finite float >= 0, got nan"),
        (lambda: _decoder(texture_weight=-1.0), r"^texture_weight: expected a finite float >= 0, got -1.0"),
        (lambda: _benchmark(time_budget=float("nan")), r"^time_budget: expected a finite float > 0, got nan"),
        (lambda: _benchmark(memory_budget=0), r"^memory_budget: expected a finite float > 0, got 0.0"),
        (lambda: _benchmark(warmup_seconds=float("inf")), r"^warmup_seconds: expected a finite float >= 0, got inf"),
    ],
)
def test_float_arguments_refuse_nan_infinity_and_values_out_of_range(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_check_float_bounds_and_types():
    from afno_tutorial.checks import check_float

    assert check_float(0, "a", low=0.0) == 0.0 and isinstance(check_float(2, "a"), float)
    assert check_float(0.5, "a", low=0.0, high=1.0, high_open=True) == 0.5
    for value, bounds in [(0.0, dict(low=0.0, low_open=True)), (1.0, dict(high=1.0, high_open=True)),
                          (1.5, dict(high=1.0)), (float("-inf"), {}), (float("nan"), dict(low=0.0))]:
        with pytest.raises(ValueError, match=r"^a: expected a finite float"):
            check_float(value, "a", **bounds)
    for value in (True, "1", None, 1j):
        with pytest.raises(TypeError, match=r"^a: expected a finite float"):
            check_float(value, "a")


def test_argparse_number_parses_in_bounds_and_refuses_the_rest():
    import argparse

    from afno_tutorial.checks import argparse_number

    positive = argparse_number(int, "positive integer", low=1)
    assert positive("3") == 3 and isinstance(positive("3"), int)
    fraction = argparse_number(float, "fraction in [0, 1)", low=0, high=1, high_open=True)
    assert fraction("0") == 0.0 and fraction("0.5") == 0.5
    rate = argparse_number(float, "positive number", low=0, low_open=True)
    assert rate("1e-9") == 1e-9
    for parse, text in [(positive, "0"), (positive, "2.5"), (positive, "x"), (positive, ""), (fraction, "1"),
                        (fraction, "-0.1"), (fraction, "nan"), (rate, "0"), (rate, "inf")]:
        with pytest.raises(argparse.ArgumentTypeError, match=r"^expected a .*, got " + repr(text)):
            parse(text)
    assert positive("1" + "0" * 400) == 10**400  # no float conversion of a large int


def test_check_writable_folder_creates_the_folder_or_names_the_argument(tmp_path):
    from afno_tutorial.checks import check_writable_folder

    assert check_writable_folder(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b" and (tmp_path / "a").is_dir()
    expected = r"^--out: expected a folder that can be written, cannot write to /proc/x"
    with pytest.raises(ValueError, match=expected) as info:
        check_writable_folder("/proc/x", "--out")
    assert isinstance(info.value.__cause__, OSError)
