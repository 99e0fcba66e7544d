"""Theoretical floating-point operation counts of every token mixer, forward pass.

Conventions (real FLOPs; a multiply-add counts 2):

- **FFT**: a complex transform of length ``N`` costs ``5 N log2 N``, a real one (``rfft``/``irfft``) ``2.5 N log2 N``:
  the usual radix-2 counts, used for any ``N``. A 2-D transform is counted axis by axis, as the mixers compute it:
  ``rfft`` over the ``W`` axis for every row, then a complex ``fft`` over the ``H`` axis for the columns that are
  kept (all ``W//2 + 1`` for a full spectrum), and the same in reverse. For a full ``H x W`` real grid this is
  ``2.5 HW log2(HW)`` up to the Nyquist column.
- **mixing**: the part that learns: AFNO's block-diagonal complex MLP, FNO's per-mode weights, GFN's filter
  product, attention's matrix products (query/key/value and output projections plus ``Q K^T`` and ``A V``).
  A complex multiply-add is 8 real FLOPs, a complex product 6.
- **pointwise**: biases, ReLU, soft-shrink, softmax, the residual add and the Hermitian fix-up, about one FLOP per
  element and operation (softmax 5 per score). Small next to the rest; counted so that ``total`` is honest.

``total = fft + mixing + pointwise``. ``torch.utils.flop_counter.FlopCounterMode`` counts the matrix products only
(and a complex product as a real one, i.e. a quarter of its real FLOPs); it does not count FFTs or elementwise work.
"""

from __future__ import annotations

import math

from torch import nn

from . import spectral
from .checks import check_pair, check_positive_int
from .mixers import AFNO2d, GlobalFilter2d, SelfAttention2d, SpectralConv2d

# Keys every result has (attention adds "projections" and "scores", the two parts of its "mixing").
FLOP_KEYS = ("fft", "mixing", "pointwise", "total")


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


def mixer_flops(mixer: nn.Module, grid_size: tuple[int, int], batch: int = 1) -> dict[str, float]:
    """Theoretical forward FLOPs of ``mixer`` on a ``(batch, H, W, C)`` token grid.

    Args:
        mixer: an :class:`AFNO2d`, :class:`SpectralConv2d`, :class:`GlobalFilter2d` or :class:`SelfAttention2d`
            (any flags).
        grid_size: ``(H, W)`` tokens (an int means a square).
        batch: ``B``.

    Returns:
        ``{"fft", "mixing", "pointwise", "total"}`` as floats (attention also ``"projections"`` and ``"scores"``,
        which sum to its ``"mixing"``). See the module docstring for the conventions.
    """
    height, width = check_pair(grid_size, "grid_size")
    batch = check_positive_int(batch, "batch")
    if isinstance(mixer, AFNO2d):
        counts = _afno_flops(mixer, height, width)
    elif isinstance(mixer, SpectralConv2d):
        counts = _fno_flops(mixer, height, width)
    elif isinstance(mixer, GlobalFilter2d):
        counts = _gfn_flops(mixer, height, width)
    elif isinstance(mixer, SelfAttention2d):
        counts = _attention_flops(mixer, height, width)
    else:
        raise TypeError(
            "mixer: expected an AFNO2d, SpectralConv2d, GlobalFilter2d or SelfAttention2d, "
            f"got {type(mixer).__name__}"
        )
    counts = {key: float(value) * batch for key, value in counts.items()}
    counts["total"] = counts["fft"] + counts["mixing"] + counts["pointwise"]
    return counts


def _afno_flops(mixer: AFNO2d, height: int, width: int) -> dict[str, float]:
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


def _fno_flops(mixer: SpectralConv2d, height: int, width: int) -> dict[str, float]:
    m_y, m_x = mixer.modes
    bins = spectral.kept_row_count(height, m_y) * m_x
    k, b = mixer.num_blocks, mixer.block_size
    fft = mixer.dim * 2 * rfft2_flops(height, width, m_x)
    mixing = 8.0 * bins * k * b * b
    return {"fft": fft, "mixing": mixing, "pointwise": 0.0}


def _gfn_flops(mixer: GlobalFilter2d, height: int, width: int) -> dict[str, float]:
    bins = height * (width // 2 + 1)
    fft = mixer.dim * 2 * rfft2_flops(height, width)
    mixing = 6.0 * bins * mixer.dim  # one complex product per bin and channel
    return {"fft": fft, "mixing": mixing, "pointwise": 0.0}


def _attention_flops(mixer: SelfAttention2d, height: int, width: int) -> dict[str, float]:
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


__all__ = ["FLOP_KEYS", "complex_fft_flops", "mixer_flops", "real_fft_flops", "rfft2_flops"]
