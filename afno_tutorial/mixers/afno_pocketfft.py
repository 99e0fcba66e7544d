"""AFNO computed channels-last with SciPy's FFT (pocketfft): the fast CPU path of
:class:`~afno_tutorial.mixers.afno.AFNO2d`.

PyTorch's CPU FFTs return the transformed axis innermost whatever the input's layout, so a mixer whose tokens are
``(B, H, W, C)`` pays a transpose into and out of every transform. ``scipy.fft`` keeps the array's axis order:
``rfft`` over ``W`` of a channels-last array is channels-last again, its kernels transform several neighbouring
channels at once with SIMD instructions (just what the unit-stride channel axis offers), and a complex transform
with ``overwrite_x=True`` works in place, strided views included. So this path never transposes anything and
allocates one spectrum:

1. ``half = rfft(x)`` over ``W``, ``(B, H, W//2+1, C)``; then the kept columns ``half[:, :, :m_x]`` are
   transformed over ``H`` in place. They now hold the 2-D spectrum's kept columns, the other columns the
   transform over ``W`` alone.
2. A few kept rows at a time (``|k_y| < m_y``: the first ``m_y`` and the last ``m_y - 1`` rows), the kept bins are
   gathered into a small buffer with the channels innermost, the layout the block matrix products read; the MLP
   runs on the buffer, and its output is added back onto the bins.
3. The kept columns are transformed back over ``H`` in place, and ``irfft`` over ``W`` ends the round trip. Since
   the bins were *added to*, the inverse transforms return ``x`` plus the mixer's field: the residual joins in the
   spectrum, without a pass over the output.

At ``hard_thresholding_fraction < 1`` steps 2 and 3's transforms over ``H`` shrink with the kept columns and rows;
the transforms over ``W`` are paid in full. Peak memory: ``half`` (about the input's size) and the output. The
backward pass recomputes the spectrum from the input instead of storing it and uses the adjoints of the
truncated transforms (``spectral.real_column_weights``); its gradients equal those autograd computes through the
plain path (tested, also by ``gradcheck``). The inverse transform over ``W`` applies the Hermitian projection of
CPU ``irfft`` (the imaginary parts of the ``k_x = 0`` and Nyquist columns are dropped after the inverse over
``H``), so results equal the plain path's with ``hermitian_projection=True``.

SciPy's FFT runs on ``torch.get_num_threads()`` threads, so thread settings made for PyTorch apply to it too.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import torch
from torch.autograd.function import once_differentiable

from .. import spectral
from .afno_block_mlp import BlockMLP


# Under torch.compile this runs as one eager call (a graph break): Dynamo cannot trace into SciPy, and the
# hand-written backward is not traceable either.
@torch.compiler.disable
def afno_pocketfft(
    x: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor | None,
    w2: torch.Tensor | None,
    b2: torch.Tensor | None,
    *,
    modes: tuple[int, int],
    norm: str,
    sparsity_threshold: float,
) -> torch.Tensor:
    """``x + irfft2(AFNO-MLP(rfft2(x)))`` channels-last, differentiable in ``x`` and all weights.

    Args:
        x: ``(B, H, W, C)`` real CPU tensor, float32 or float64 (any strides; a contiguous copy is made if needed).
        w1, b1, w2, b2: the MLP's parameters in the layout of :class:`~afno_tutorial.mixers.afno.AFNO2d`
            (``w1 (2, k, b, h)``, ``b1 (2, k, h)``, ``w2 (2, k, h, b)``, ``b2 (2, k, b)``); ``w2 = b2 = None`` for
            the one-layer MLP, ``b1 = b2 = None`` without biases.
        modes: the kept set ``(m_y, m_x)``, already checked to fit the grid.
        norm: the FFT normalisation (``"ortho"``, ``"forward"`` or ``"backward"``).
        sparsity_threshold: ``lambda`` of the soft-shrink (0: none).

    Returns:
        ``(B, H, W, C)`` contiguous, the mixer's output including the residual ``x``.
    """
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"x: expected a float32 or float64 CPU tensor, got {x.dtype} on {x.device.type}")
    if x.shape[-1] != w1.shape[1] * w1.shape[2]:
        raise ValueError(f"x: expected {w1.shape[1] * w1.shape[2]} channels, got {x.shape[-1]}")
    return _AFNOPocketFFT.apply(x, w1, b1, w2, b2, modes, norm, float(sparsity_threshold))


def kept_row_ranges(height: int, m_y: int) -> list[tuple[int, int]]:
    """The rows of a full ``H``-point spectrum with ``|k_y| < m_y``, as ``[(start, stop), ...]`` ranges."""
    if spectral.kept_row_count(height, m_y) == height:
        return [(0, height)]
    return [(0, m_y), (height - m_y + 1, height)]


def scipy_fft(name: str, a: np.ndarray, **kwargs: object) -> np.ndarray:
    """``scipy.fft.<name>(a, **kwargs)`` on ``torch.get_num_threads()`` threads, named ``scipy.fft.<name>`` for
    ``torch.profiler`` (:mod:`afno_tutorial.op_profile` counts it as an FFT)."""
    with torch.profiler.record_function(f"scipy.fft.{name}"):
        return getattr(scipy.fft, name)(a, workers=max(1, torch.get_num_threads()), **kwargs)


def fft_inplace(name: str, view: np.ndarray, **kwargs: object) -> None:
    """``view[...] = scipy.fft.<name>(view, **kwargs)`` for a complex ``view`` (``"fft"`` or ``"ifft"``), in place.

    SciPy does so itself for ``overwrite_x=True`` (strided views included); should a version return new memory
    instead, the result is copied back."""
    result = scipy_fft(name, view, overwrite_x=True, **kwargs)
    same = result.__array_interface__["data"][0] == view.__array_interface__["data"][0] and result.strides == view.strides
    if not same:
        view[...] = result


def _spectrum(x: np.ndarray, m_x: int, norm: str) -> np.ndarray:
    """``x: (B, H, W, C)`` real -> its transform over ``W``, ``(B, H, W//2+1, C)`` complex, with the first ``m_x``
    columns transformed over ``H`` as well (in place). Those columns hold the 2-D spectrum's kept columns, the
    others the transform over ``W`` alone."""
    half = scipy_fft("rfft", x, axis=2, norm=norm)
    fft_inplace("fft", half[:, :, :m_x], axis=1, norm=norm)
    return half


def _field(half: np.ndarray, m_x: int, width: int, norm: str) -> np.ndarray:
    """Undo :func:`_spectrum` (the inverse over ``H`` of the first ``m_x`` columns in place, then over ``W``):
    ``(B, H, W//2+1, C)`` complex (overwritten) -> real ``(B, H, W, C)``."""
    fft_inplace("ifft", half[:, :, :m_x], axis=1, norm=norm)
    return scipy_fft("irfft", half, n=width, axis=2, norm=norm, overwrite_x=True)


def _chunks(spec: torch.Tensor, m_x: int, m_y: int, rows: int) -> list[torch.Tensor]:
    """Views ``(<= rows, m_x, C)`` of the kept bins of ``spec: (B, H, W//2+1, C)``, a few kept rows of one sample
    each, covering every kept bin once."""
    return [
        spec[i, s : min(s + rows, r1), :m_x]
        for i in range(spec.shape[0])
        for r0, r1 in kept_row_ranges(spec.shape[1], m_y)
        for s in range(r0, r1, rows)
    ]


def _chunk_rows(mlp: BlockMLP, m_x: int, element_size: int) -> int:
    """Rows per chunk: enough kept bins for efficient matrix products (:meth:`BlockMLP.chunk_rows`)."""
    return -(-mlp.chunk_rows(element_size) // m_x)


def _interleaved(bins: torch.Tensor, blocks: int) -> torch.Tensor:
    """Contiguous complex ``(..., C)`` bins as the real ``(n, k, 2b)`` view the block MLP reads."""
    return torch.view_as_real(bins).view(-1, blocks, 2 * bins.shape[-1] // blocks)


class _AFNOPocketFFT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, modes, norm, threshold):  # type: ignore[override]
        x = x.contiguous()
        mlp = BlockMLP((w1, b1, w2, b2), threshold, x.dtype)
        (m_y, m_x), width = modes, x.shape[2]
        half = _spectrum(x.detach().numpy(), m_x, norm)
        spec = torch.from_numpy(half)
        rows = _chunk_rows(mlp, m_x, x.element_size())
        buffer = spec.new_empty(rows, m_x, spec.shape[3])  # reused for every chunk
        for view in _chunks(spec, m_x, m_y, rows):
            bins = buffer[: view.shape[0]]
            bins.copy_(view)  # the MLP's input, gathered
            real = _interleaved(bins, mlp.blocks)
            for j in range(mlp.blocks):
                mlp.forward_(real[:, j], j)
            # The residual joins in the spectrum: the inverse transforms of x's own kept bins plus the MLP's
            # output give x plus the mixer's field, with no separate pass over the output.
            view.add_(bins)
        out = torch.from_numpy(_field(half, m_x, width, norm))
        ctx.save_for_backward(x, w1, b1, w2, b2)
        ctx.settings = (modes, norm, threshold)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        x, w1, b1, w2, b2 = ctx.saved_tensors
        modes, norm, threshold = ctx.settings
        mlp = BlockMLP((w1, b1, w2, b2), threshold, x.dtype)
        (m_y, m_x), width = modes, x.shape[2]
        spec = torch.from_numpy(_spectrum(x.detach().numpy(), m_x, norm))  # the MLP's input, recomputed
        # d loss / d(kept bins) through the inverse transform: its adjoint is the forward one, weighted by how often
        # each column counts in a real field.
        adjoint = spectral.adjoint_norm(norm)
        grad_half = _spectrum(grad_out.to(x.dtype).contiguous().numpy(), m_x, adjoint)
        grad_spec = torch.from_numpy(grad_half)
        weights = spectral.real_column_weights(width, m_x, x.dtype).view(-1, 1)  # over the m_x axis
        acc = mlp.new_grads()
        rows = _chunk_rows(mlp, m_x, x.element_size())
        buffers = (spec.new_empty(rows, m_x, spec.shape[3]), grad_spec.new_empty(rows, m_x, spec.shape[3]))
        for view, grad_view in zip(_chunks(spec, m_x, m_y, rows), _chunks(grad_spec, m_x, m_y, rows)):
            bins, grads = (b[: view.shape[0]] for b in buffers)
            bins.copy_(view)
            torch.mul(grad_view, weights, out=grads)
            real_grads = _interleaved(grads, mlp.blocks)
            for j, real in enumerate(_interleaved(bins, mlp.blocks).unbind(1)):
                mlp.backward_(real, real_grads[:, j], j, acc)  # real_grads becomes the gradient at the MLP's input
            # The adjoint of the forward transform is the inverse one, divided by the weights; added to the
            # transform of grad_out itself, whose inverse is the residual's gradient.
            grad_view.add_(grads.div_(weights))
        del spec
        grad_x = torch.from_numpy(_field(grad_half, m_x, width, adjoint)) if ctx.needs_input_grad[0] else None
        return (grad_x, *mlp.param_grads(acc), None, None, None)
