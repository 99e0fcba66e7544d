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
- **pointwise**: biases, ReLU, soft-shrink, softmax, the skip (AFNO with ``inner_skip``) and the Hermitian fix-up,
  about one FLOP per element and operation (softmax 5 per score). Small next to the rest; counted so that
  ``total`` is honest.

``total = fft + mixing + pointwise``. ``torch.utils.flop_counter.FlopCounterMode`` counts the matrix products only
(and a complex product as a real one, i.e. a quarter of its real FLOPs); it does not count FFTs or elementwise work.

Which formula: the one the mixer was registered with (:func:`afno_tutorial.mixers.register_mixer`, ``flops=``; the
built-in ones are in :mod:`afno_tutorial.mixers.costs`). A mixer registered without one is *counted* instead: its
forward runs once under ``FlopCounterMode`` (on the meta device where it can, so nothing is computed), and the
result says so with a ``"counted"`` entry: its ``mixing`` and ``total`` are the matrix products alone, its FFTs
and element-wise work are not in them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .checks import check_pair, check_positive_int
from .mixers import find_mixer
from .mixers.costs import complex_fft_flops, real_fft_flops, rfft2_flops

# Keys every result has (attention adds "projections" and "scores", the two parts of its "mixing"; a counted mixer
# adds "counted").
FLOP_KEYS = ("fft", "mixing", "pointwise", "total")


def mixer_flops(mixer: nn.Module, grid_size: tuple[int, int], batch: int = 1,
                dim: int | None = None) -> dict[str, float]:  # fmt: skip
    """Forward FLOPs of ``mixer`` on a ``(batch, H, W, C)`` token grid.

    Args:
        mixer: a module of a registered mixer (any flags); with no formula registered, any token mixer.
        grid_size: ``(H, W)`` tokens (an int means a square).
        batch: ``B``.
        dim: ``C``, needed only to count a mixer without a formula (default: ``mixer.dim``).

    Returns:
        ``{"fft", "mixing", "pointwise", "total"}`` as floats (attention also ``"projections"`` and ``"scores"``,
        which sum to its ``"mixing"``). From the mixer's formula; for a mixer without one, from
        ``FlopCounterMode`` with a ``"counted"`` entry (equal to ``total``; ``fft`` and ``pointwise`` are 0, not
        measured). See the module docstring for the conventions.
    """
    height, width = check_pair(grid_size, "grid_size")
    batch = check_positive_int(batch, "batch")
    if not isinstance(mixer, nn.Module):
        raise TypeError(f"mixer: expected a token-mixer nn.Module, got {type(mixer).__name__}")
    info = find_mixer(mixer)
    if info is not None and info.flops is not None:
        counts = {key: float(value) * batch for key, value in info.flops(mixer, height, width).items()}
    else:
        counted = float(count_flops(mixer, (batch, height, width, _channels(mixer, dim))))
        counts = {"fft": 0.0, "mixing": counted, "pointwise": 0.0, "counted": counted}
    counts["total"] = counts["fft"] + counts["mixing"] + counts["pointwise"]
    return counts


def _channels(mixer: nn.Module, dim: int | None) -> int:
    if dim is None:
        dim = getattr(mixer, "dim", None)
    if dim is None:
        raise TypeError(
            f"mixer: {type(mixer).__name__} has no FLOP formula registered, so its FLOPs are counted by running it, "
            "which needs its channel count: pass dim=... or give the module a `dim` attribute"
        )
    return check_positive_int(dim, "dim")


def count_flops(mixer: nn.Module, shape: tuple[int, ...] | torch.Tensor) -> int:
    """What ``FlopCounterMode`` counts for one forward of ``mixer`` under ``torch.no_grad`` (matrix products only).

    Args:
        shape: the input's shape, then run on the meta device where the mixer allows (nothing is computed or
            allocated), else on a random input on the mixer's device; or the input itself.
    """
    if isinstance(shape, torch.Tensor):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            mixer(shape)
        return int(counter.get_total_flops())
    state = {**dict(mixer.named_parameters()), **dict(mixer.named_buffers())}
    try:
        meta = {name: torch.empty_like(t, device="meta") for name, t in state.items()}
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            torch.func.functional_call(mixer, meta, (torch.empty(shape, device="meta"),))
        return int(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - an operator without a meta kernel, data read on the host: count for real
        device = next(iter(state.values())).device if state else torch.device("cpu")
        return count_flops(mixer, torch.randn(shape, device=device))


__all__ = ["FLOP_KEYS", "complex_fft_flops", "count_flops", "mixer_flops", "real_fft_flops", "rfft2_flops"]
