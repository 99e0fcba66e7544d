"""Every mixer on the edges of its input: non-finite hyperparameters, an empty batch, the meta device."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from afno_tutorial import AFNO2d, GlobalFilter2d, SelfAttention2d, SpectralConv2d
from afno_tutorial.mixers import _cpu

MIXERS = {
    "afno plain": lambda: AFNO2d(16, num_blocks=4, path="plain"),
    "afno fast": lambda: AFNO2d(16, num_blocks=4, path="pocketfft"),
    "afno fast, inner skip": lambda: AFNO2d(16, num_blocks=4, path="pocketfft", inner_skip=True),
    "afno plain, inner skip, fraction 0.5": lambda: AFNO2d(16, num_blocks=4, path="plain", inner_skip=True,
                                                           hard_thresholding_fraction=0.5),
    "fno": lambda: SpectralConv2d(16, (2, 2)),
    "gfn": lambda: GlobalFilter2d(16, (8, 8)),
    "attention": lambda: SelfAttention2d(16, num_heads=4),
}
CLASSES = [AFNO2d, SpectralConv2d, GlobalFilter2d, SelfAttention2d]


def _float_hyperparameters(cls) -> list[str]:
    return [p.name for p in inspect.signature(cls.__init__).parameters.values() if isinstance(p.default, float)]


def test_the_float_hyperparameters_are_the_ones_expected():
    # If a mixer gains a float hyperparameter, the test below checks it too.
    assert {cls.__name__: _float_hyperparameters(cls) for cls in CLASSES} == {
        "AFNO2d": ["sparsity_threshold", "hard_thresholding_fraction"], "SpectralConv2d": [],
        "GlobalFilter2d": [], "SelfAttention2d": []}  # fmt: skip


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("cls, name", [(cls, name) for cls in CLASSES for name in _float_hyperparameters(cls)])
def test_non_finite_float_hyperparameters_are_refused_by_name(cls, name, value):
    with pytest.raises(ValueError, match=rf"{name}: expected .*got {value}"):
        cls(16, **{name: value})


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("name", list(MIXERS))
def test_an_empty_batch_gives_an_empty_result_on_every_path(name, grad):
    torch.manual_seed(0)
    mixer = MIXERS[name]()
    x = torch.randn(0, 8, 8, 16, requires_grad=grad)
    y = mixer(x)
    assert y.shape == (0, 8, 8, 16) and y.dtype == x.dtype
    if grad:
        y.sum().backward()
        assert x.grad.shape == x.shape
        for p in mixer.parameters():
            assert p.grad is None or (p.grad.shape == p.shape and not p.grad.any())


def test_an_empty_batch_takes_each_afno_path_it_is_asked_for():
    x = torch.randn(0, 8, 8, 16)
    assert _cpu.cpu_path(AFNO2d(16, 4, path="pocketfft"), x) == "pocketfft"
    assert _cpu.cpu_path(AFNO2d(16, 4, path="plain"), x) == "plain"


@pytest.mark.parametrize("name", list(MIXERS))
def test_the_meta_device_gives_the_output_shape_without_memory(name):
    torch.manual_seed(0)
    mixer = MIXERS[name]().to("meta")
    x = torch.empty(3, 8, 6 if "gfn" not in name else 8, 16, device="meta")
    y = mixer(x)
    assert y.device.type == "meta" and y.shape == x.shape and y.dtype == x.dtype
    y.sum().backward() if y.requires_grad else None
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast elsewhere does not get in the way
        assert mixer(x).shape == x.shape
