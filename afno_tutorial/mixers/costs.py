"""The cost of each built-in mixer in floating-point operations, forward pass, one image: the formulas the registry
hands to :func:`afno_tutorial.flops.mixer_flops` (whose docstring gives the conventions: real FLOPs, a multiply-add
counts 2, an FFT of length ``N`` costs ``5 N log2 N`` complex or ``2.5 N log2 N`` real, axis by axis).

Each formula maps ``(mixer, height, width)`` to ``{"fft", "mixing", "pointwise"}`` (attention also
``"projections"`` and ``"scores"``, the two parts of its ``"mixing"``).
"""

from __future__ import annotations

import math

from .. import spectral
from .afno import AFNO2d
from .attention import SelfAttention2d
from .fno import SpectralConv2d
from .gfn import GlobalFilter2d


def complex_fft_flops(n: int) -> float:
    """``5 n log2 n``: one complex FFT of length ``n`` (0 for ``n = 1``)."""
    return 5.0 * n * math.log2(n) if n > 1 else 0.0


def real_fft_flops(n: int) -> float:
    """``2.5 n log2 n``: one real FFT (``rfft`` or ``irfft``) of length ``n``."""
    return 2.5 * n * math.log2(n) if n > 1 else 0.0


def rfft2_flops(height: int, width: int, columns: int | None = None) -> float:
    """One ``rfft2`` (or its inverse) of an ``(H, W)`` grid, counting the row-axis FFT on ``columns`` columns.

    ``columns`` is the number of ``k_x`` columns transformed along ``H`` (``W//2 + 1`` for the full spectrum;
    fewer when only the kept ones are computed).
    """
    columns = width // 2 + 1 if columns is None else columns
    return height * real_fft_flops(width) + columns * complex_fft_flops(height)


def afno_flops(mixer: AFNO2d, height: int, width: int) -> dict[str, float]:
    """AFNO: the truncated transforms, the block-diagonal complex MLP on the kept bins, biases, ReLU, soft-shrink."""
    channels = mixer.dim
    m_y, m_x = mixer.kept_modes(height, width)
    rows = spectral.kept_row_count(height, m_y)
    bins = rows * m_x
    k, b = mixer.num_blocks, mixer.block_size
    hidden = b * mixer.hidden_size_factor if mixer.mlp_layers == 2 else b
    has_bias = mixer.b1 is not None
    # Forward: rfft over W, then the H-axis FFT on the kept columns only. The inverse with the explicit
    # projection works on the kept columns too; without it, irfft2 zero-pads to the full half-spectrum.
    inverse_columns = m_x if mixer.hermitian_projection else width // 2 + 1
    fft = channels * (rfft2_flops(height, width, m_x) + rfft2_flops(height, width, inverse_columns))
    # Each layer: per bin and block a complex (out x in) matrix times a vector, 8 real FLOPs per complex MAC.
    mixing = 8.0 * bins * k * b * hidden
    pointwise = 0.0
    if has_bias:
        pointwise += 2.0 * bins * k * hidden
    if mixer.mlp_layers == 2:
        mixing += 8.0 * bins * k * hidden * b
        pointwise += 2.0 * bins * k * hidden  # ReLU on real and imaginary parts
        if has_bias:
            pointwise += 2.0 * bins * channels
    if mixer.sparsity_threshold > 0:
        pointwise += 2.0 * 2 * bins * channels  # soft-shrink: compare and subtract, real and imaginary
    if mixer.inner_skip:
        pointwise += height * width * channels  # the skip inside the mixer
    return {"fft": fft, "mixing": mixing, "pointwise": pointwise}


def fno_flops(mixer: SpectralConv2d, height: int, width: int) -> dict[str, float]:
    """FNO: the truncated transforms and one complex (block-diagonal) weight per kept mode."""
    m_y, m_x = mixer.modes
    bins = spectral.kept_row_count(height, m_y) * m_x
    k, b = mixer.num_blocks, mixer.block_size
    fft = mixer.dim * 2 * rfft2_flops(height, width, m_x)
    mixing = 8.0 * bins * k * b * b
    return {"fft": fft, "mixing": mixing, "pointwise": 0.0}


def gfn_flops(mixer: GlobalFilter2d, height: int, width: int) -> dict[str, float]:
    """GFN: the full transforms and one complex product per bin and channel."""
    bins = height * (width // 2 + 1)
    fft = mixer.dim * 2 * rfft2_flops(height, width)
    mixing = 6.0 * bins * mixer.dim  # one complex product per bin and channel
    return {"fft": fft, "mixing": mixing, "pointwise": 0.0}


def attention_flops(mixer: SelfAttention2d, height: int, width: int) -> dict[str, float]:
    """Self-attention: the projections, ``Q K^T`` and ``A V`` over all heads, the softmax."""
    tokens = height * width
    channels = mixer.dim
    has_qkv_bias = mixer.qkv.bias is not None
    projections = 2.0 * tokens * channels * 3 * channels + 2.0 * tokens * channels * channels
    # Q K^T and A V over all heads: 2 N^2 (C / heads) each per head.
    scores = 2 * 2.0 * tokens * tokens * channels
    pointwise = tokens * channels * (3 * has_qkv_bias + 1)  # projection biases
    pointwise += 5.0 * mixer.num_heads * tokens * tokens  # scale, max, subtract, exp, normalise
    return {
        "fft": 0.0,
        "mixing": projections + scores,
        "projections": projections,
        "scores": scores,
        "pointwise": pointwise,
    }


__all__ = [
    "afno_flops", "attention_flops", "complex_fft_flops", "fno_flops", "gfn_flops", "real_fft_flops", "rfft2_flops",
]  # fmt: skip
