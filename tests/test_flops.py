"""Theoretical FLOP counts: matrix parts agree with torch's FlopCounterMode, FFT parts follow the documented rule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from afno_tutorial import AFNO2d, GlobalFilter2d, SelfAttention2d, SpectralConv2d
from afno_tutorial.flops import FLOP_KEYS, complex_fft_flops, mixer_flops, real_fft_flops, rfft2_flops


def counted_matmul_flops(mixer: nn.Module, x: torch.Tensor) -> int:
    """What FlopCounterMode counts for one forward (SDPA forced to the math kernel so it is visible)."""
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        mixer(x)
    return counter.get_total_flops()


AFNO_CASES = [
    {},
    {"hard_thresholding_fraction": 0.5},
    {"hard_thresholding_fraction": 0.25, "num_blocks": 4},
    {"mlp_layers": 1},
    {"hidden_size_factor": 2, "num_blocks": 2},
    {"modes": (3, 2), "fft_norm": "forward"},
    {"bias": False, "sparsity_threshold": 0.0},
    {"hermitian_projection": False, "hard_thresholding_fraction": 0.5},
]


@pytest.mark.parametrize("kwargs", AFNO_CASES)
@pytest.mark.parametrize("grid", [(8, 8), (6, 10)])
@pytest.mark.parametrize("path", ["pocketfft", "plain"])
def test_afno_mixing_matches_flop_counter(kwargs: dict, grid: tuple[int, int], path: str) -> None:
    mixer = AFNO2d(32, path=path, **kwargs)
    x = torch.randn(2, *grid, 32)
    counts = mixer_flops(mixer, grid, batch=2)
    # The plain path runs the complex MLP as complex matmuls, which FlopCounterMode counts as 2 FLOPs per
    # multiply-add; the fast CPU path runs it as real matmuls on (real, imaginary) pairs: 8, as counted here.
    assert counts["mixing"] == (4 if path == "plain" else 1) * counted_matmul_flops(mixer, x)
    assert set(FLOP_KEYS) <= set(counts)
    assert counts["total"] == pytest.approx(counts["fft"] + counts["mixing"] + counts["pointwise"])


@pytest.mark.parametrize("num_blocks", [1, 4])
@pytest.mark.parametrize("modes", [(2, 3), (4, 5)])
def test_fno_mixing_matches_flop_counter(num_blocks: int, modes: tuple[int, int]) -> None:
    mixer = SpectralConv2d(16, modes=modes, num_blocks=num_blocks)
    x = torch.randn(3, 8, 8, 16)
    # FlopCounterMode counts a complex multiply-add as 2 FLOPs; in real arithmetic it is 8.
    assert mixer_flops(mixer, (8, 8), batch=3)["mixing"] == 4 * counted_matmul_flops(mixer, x)


@pytest.mark.parametrize("qkv_bias", [True, False])
def test_attention_mixing_matches_flop_counter(qkv_bias: bool) -> None:
    mixer = SelfAttention2d(32, num_heads=4, qkv_bias=qkv_bias)
    x = torch.randn(2, 4, 6, 32)
    counts = mixer_flops(mixer, (4, 6), batch=2)
    assert counts["mixing"] == counted_matmul_flops(mixer, x)
    assert counts["mixing"] == counts["projections"] + counts["scores"]
    assert counts["fft"] == 0


def test_gfn_counts_fft_and_filter_product() -> None:
    mixer = GlobalFilter2d(8, size=(16, 16))
    counts = mixer_flops(mixer, (16, 16))
    assert counted_matmul_flops(mixer, torch.randn(1, 16, 16, 8)) == 0  # no matmul at all
    assert counts["mixing"] == 6 * 16 * 9 * 8
    # Full spectrum both ways: 2 * C * (H * 2.5 W log2 W + (W/2+1) * 5 H log2 H).
    assert counts["fft"] == 2 * 8 * (16 * 2.5 * 16 * 4 + 9 * 5 * 16 * 4)


def test_fft_rule() -> None:
    assert complex_fft_flops(1) == 0 and real_fft_flops(1) == 0
    assert complex_fft_flops(8) == 5 * 8 * 3
    assert real_fft_flops(64) == 2.5 * 64 * 6
    # A full rfft2 is about 2.5 N log2 N with N = H W (the extra Nyquist column aside).
    h = w = 256
    assert rfft2_flops(h, w) == pytest.approx(2.5 * h * w * math.log2(h * w), rel=0.01)


def test_truncation_reduces_afno_cost_and_scaling() -> None:
    full = mixer_flops(AFNO2d(64), (32, 32))
    half = mixer_flops(AFNO2d(64, hard_thresholding_fraction=0.5), (32, 32))
    assert half["mixing"] < 0.3 * full["mixing"]  # about a quarter of the bins
    assert half["fft"] < full["fft"]
    # Batch is linear; AFNO is quasi-linear in tokens, attention quadratic.
    assert mixer_flops(AFNO2d(64), (32, 32), batch=4)["total"] == pytest.approx(4 * full["total"])
    ratio_afno = mixer_flops(AFNO2d(64), (64, 64))["total"] / full["total"]
    attention = SelfAttention2d(64)
    ratio_attn = mixer_flops(attention, (64, 64))["total"] / mixer_flops(attention, (32, 32))["total"]
    assert 4 < ratio_afno < 5 and ratio_attn > 10


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="mixer"):
        mixer_flops(nn.Linear(4, 4), (8, 8))
    with pytest.raises(ValueError, match="batch"):
        mixer_flops(AFNO2d(16), (8, 8), batch=0)
    with pytest.raises(TypeError, match="grid_size"):
        mixer_flops(AFNO2d(16), "8x8")  # type: ignore[arg-type]
