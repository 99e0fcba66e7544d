"""AFNO computed channels-last with SciPy's FFT (pocketfft): the fast CPU path of
:class:`~afno_tutorial.mixers.afno.AFNO2d`.

PyTorch's CPU FFTs return the transformed axis innermost whatever the input's layout, so a mixer whose tokens are
``(B, H, W, C)`` pays a transpose into and out of the transforms. ``scipy.fft`` keeps the array's axis order:
``rfft`` over ``W`` of a channels-last array is channels-last again, its kernels transform several neighbouring
channels at once with SIMD instructions (just what the unit-stride channel axis offers), and a complex transform
with ``overwrite_x=True`` works in place, strided views included. So this path never transposes anything and
needs one spectrum:

1. ``half = rfft(x)`` over ``W``, ``(B, H, W//2+1, C)``; then the kept columns ``half[:, :, :m_x]`` are
   transformed over ``H`` in place. They now hold the 2-D spectrum's kept columns.
2. A few kept rows at a time (``|k_y| < m_y``: the first ``m_y`` and the last ``m_y - 1`` rows), the kept bins are
   gathered block-major into a small buffer, ``(k, n, 2b)``: for each channel block, its interleaved (real,
   imaginary) channels of every bin, so that each block's bins are one contiguous matrix. The MLP runs on the
   buffer as real matrix products (:mod:`.block_mlp`), and its output replaces the bins (is added onto them with
   ``inner_skip``).
3. The bins outside the kept set are zeroed (with ``inner_skip`` they keep ``x``'s own spectrum, so that the
   inverse transforms return ``x`` plus the mixer's field), the kept columns are transformed back over ``H`` in
   place, and ``irfft`` over ``W`` ends the round trip.

The backward pass is written by hand from the adjoints of the truncated transforms
(``spectral.real_column_weights``): it transforms the output's gradient like the input, runs the MLP's backward
on its kept bins and transforms back. When a graph is recorded the forward gathers the kept bins into buffers it
keeps, with the MLP's hidden activations and a one-byte mask of where the soft-shrink passed its input (about
2.3x the input's size at fraction 1), so the backward recomputes neither the spectrum nor any matrix product; with
``keep_activations=False`` it keeps only the input and recomputes both. The backward is first-order: asked for a
differentiable one (``create_graph=True``), it raises an error that names ``path="plain"``. The inverse transform
over ``W`` applies the Hermitian projection of CPU ``irfft`` (the imaginary parts of the ``k_x = 0`` and Nyquist
columns are dropped after the inverse over ``H``), so results equal the plain path's (tested, also by
``gradcheck``).

SciPy's FFT runs on ``torch.get_num_threads()`` threads, so thread settings made for PyTorch apply to it too.
"""

from __future__ import annotations

import numpy as np
import torch

from ... import spectral
from .block_mlp import BlockMLP
from .scipy_fft import fft_inplace, irfft, rfft

DOUBLE_BACKWARD_ERROR = (
    "AFNO2d: the fast CPU path's backward is first-order, and a differentiable backward was asked for "
    "(create_graph=True, e.g. for a gradient penalty or double backward): build the mixer with path='plain', "
    "which autograd differentiates to any order"
)


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
    inner_skip: bool = False,
    keep_activations: bool = True,
) -> torch.Tensor:
    """``irfft2(AFNO-MLP(rfft2(x)))`` (plus ``x`` with ``inner_skip``) channels-last, differentiable in ``x`` and
    all weights (first order).

    Args:
        x: ``(B, H, W, C)`` real CPU tensor, float32 or float64 (any strides; a contiguous copy is made if needed).
        w1, b1, w2, b2: the MLP's parameters in the layout of :class:`~afno_tutorial.mixers.afno.AFNO2d`
            (``w1 (2, k, b, h)``, ``b1 (2, k, h)``, ``w2 (2, k, h, b)``, ``b2 (2, k, b)``); ``w2 = b2 = None`` for
            the one-layer MLP, ``b1 = b2 = None`` without biases.
        modes: the kept set ``(m_y, m_x)``, already checked to fit the grid.
        norm: the FFT normalisation (``"ortho"``, ``"forward"`` or ``"backward"``).
        sparsity_threshold: ``lambda`` of the soft-shrink (0: none).
        inner_skip: add ``x`` to the result (it joins in the spectrum: the MLP's output is added onto the bins
            instead of replacing them).
        keep_activations: when a graph is recorded, keep the MLP's input bins, hidden activations and shrink mask
            for the backward (about 2.3x the input's size for a two-layer MLP at fraction 1, held until the
            backward) instead of recomputing them from ``x`` (two transforms and two matrix products per block
            more in the backward).

    Returns:
        ``(B, H, W, C)`` contiguous, the mixer's output (including ``x`` with ``inner_skip``).
    """
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"x: expected a float32 or float64 CPU tensor, got {x.dtype} on {x.device.type}")
    if x.shape[-1] != w1.shape[1] * w1.shape[2]:
        raise ValueError(f"x: expected {w1.shape[1] * w1.shape[2]} channels, got {x.shape[-1]}")
    recording = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, w1, b1, w2, b2))
    keep = bool(keep_activations) and recording
    return _AFNOPocketFFT.apply(x, w1, b1, w2, b2, modes, norm, float(sparsity_threshold), bool(inner_skip), keep)


def kept_row_ranges(height: int, m_y: int) -> list[tuple[int, int]]:
    """The rows of a full ``H``-point spectrum with ``|k_y| < m_y``, as ``[(start, stop), ...]`` ranges."""
    if spectral.kept_row_count(height, m_y) == height:
        return [(0, height)]
    return [(0, m_y), (height - m_y + 1, height)]


def _spectrum(x: np.ndarray, m_x: int, norm: str) -> np.ndarray:
    """``x: (B, H, W, C)`` real -> its transform over ``W``, ``(B, H, W//2+1, C)`` complex, with the first ``m_x``
    columns transformed over ``H`` as well (in place). Those columns hold the 2-D spectrum's kept columns, the
    others the transform over ``W`` alone."""
    half = rfft(x, norm)
    fft_inplace("fft", half[:, :, :m_x], axis=1, norm=norm)
    return half


def _field(half: np.ndarray, m_x: int, width: int, norm: str) -> np.ndarray:
    """Undo :func:`_spectrum` (the inverse over ``H`` of the first ``m_x`` columns in place, then over ``W``):
    ``(B, H, W//2+1, C)`` complex (overwritten) -> real ``(B, H, W, C)``."""
    fft_inplace("ifft", half[:, :, :m_x], axis=1, norm=norm)
    return irfft(half, width, norm)


def _zero_dropped(half: np.ndarray, m_x: int, m_y: int) -> None:
    """Zero every bin of :func:`_spectrum`'s output outside the kept set (columns ``k_x >= m_x``, rows
    ``|k_y| >= m_y`` of the kept columns), so that :func:`_field` of it is the field of the kept bins alone."""
    height = half.shape[1]
    half[:, :, m_x:] = 0
    if spectral.kept_row_count(height, m_y) < height:
        half[:, m_y : height - m_y + 1, :m_x] = 0


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


def _block_view(view: torch.Tensor, blocks: int) -> torch.Tensor:
    """A chunk's complex bins ``(r, m_x, C)`` as the real ``(k, r, m_x, 2b)`` view, block-major (strided): block
    ``j``'s interleaved (real, imaginary) channels of every bin."""
    rows, cols, channels = view.shape
    return torch.view_as_real(view).view(rows, cols, blocks, 2 * channels // blocks).permute(2, 0, 1, 3)


class _Kept:
    """What the forward keeps for the backward when a graph is recorded (``keep_activations``): the MLP's input
    bins, its hidden activations and the soft-shrink's mask, flat. Each chunk of :func:`_chunks` owns a
    contiguous, block-major ``(k, n, width)`` piece of each, one chunk after the other."""

    def __init__(self, tensors: list[torch.Tensor | None], bins: int, blocks: int) -> None:
        self.tensors, self.bins, self.blocks = tensors, bins, blocks

    @classmethod
    def allocate(cls, spec: torch.Tensor, mlp: BlockMLP, m_x: int, m_y: int) -> "_Kept":
        """Fresh buffers for the kept bins of ``spec: (B, H, W//2+1, C)``."""
        batch, height, _, channels = spec.shape
        bins = batch * spectral.kept_row_count(height, m_y) * m_x
        real = spec.real.dtype
        tensors = [
            torch.empty(bins * 2 * channels, dtype=real),
            torch.empty(bins * 2 * mlp.blocks * mlp.hidden, dtype=real) if mlp.layers == 2 else None,
            torch.empty(bins * 2 * channels, dtype=torch.bool) if mlp.threshold > 0 else None,
        ]
        return cls(tensors, bins, mlp.blocks)

    def chunk(self, start: int, count: int) -> list[torch.Tensor | None]:
        """Bins ``start`` to ``start + count`` (in chunk order): the input bins, hidden activations and mask, each
        a contiguous ``(k, count, width)`` view."""
        pieces: list[torch.Tensor | None] = []
        for flat in self.tensors:
            per_bin = 0 if flat is None else flat.numel() // self.bins
            pieces.append(None if flat is None else flat[start * per_bin : (start + count) * per_bin].view(
                self.blocks, count, -1))
        return pieces


class _AFNOPocketFFT(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, modes, norm, threshold, skip, keep):  # type: ignore[override]
        x = x.contiguous()
        mlp = BlockMLP((w1, b1, w2, b2), threshold, x.dtype)
        (m_y, m_x), width, k = modes, x.shape[2], mlp.blocks
        half = _spectrum(x.detach().numpy(), m_x, norm)
        if not skip:
            _zero_dropped(half, m_x, m_y)
        spec = torch.from_numpy(half)
        rows = _chunk_rows(mlp, m_x, x.element_size())
        chunk_numel = rows * m_x * 2 * spec.shape[3]
        kept = _Kept.allocate(spec, mlp, m_x, m_y) if keep else None
        buffer = x.new_empty(chunk_numel)  # reused for every chunk: the MLP's output (its input too without keep)
        start = 0
        for view in _chunks(spec, m_x, m_y, rows):
            r = view.shape[0]
            n = r * m_x
            out = buffer[: chunk_numel * r // rows].view(k, n, -1)
            z, hidden, mask = kept.chunk(start, n) if kept is not None else (out, None, None)
            z.view(k, r, m_x, -1).copy_(_block_view(view, k))  # the MLP's input, gathered block-major
            mlp.forward_blocks(z, out, hidden, mask)
            # With the skip, the residual joins in the spectrum: the inverse transforms of x's own bins plus the
            # MLP's output give x plus the mixer's field, with no separate pass over the output.
            if skip:
                _block_view(view, k).add_(out.view(k, r, m_x, -1))
            else:
                _block_view(view, k).copy_(out.view(k, r, m_x, -1))
            start += n
        out = torch.from_numpy(_field(half, m_x, width, norm))
        # Saved as tensors, so autograd frees them after the backward (unless the graph is retained).
        if kept is None:
            ctx.save_for_backward(x, w1, b1, w2, b2, None, None, None)
        else:
            ctx.save_for_backward(None, w1, b1, w2, b2, *kept.tensors)
            ctx.kept_bins = kept.bins
        ctx.settings = (modes, norm, threshold, skip, x.shape, x.dtype)
        return out

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        if torch.is_grad_enabled():
            raise RuntimeError(DOUBLE_BACKWARD_ERROR)
        x, w1, b1, w2, b2, *kept_tensors = ctx.saved_tensors
        modes, norm, threshold, skip, shape, dtype = ctx.settings
        mlp = BlockMLP((w1, b1, w2, b2), threshold, dtype)
        kept = None if x is not None else _Kept(kept_tensors, ctx.kept_bins, mlp.blocks)
        (m_y, m_x), width, k = modes, shape[2], mlp.blocks
        # d loss / d(kept bins) through the inverse transform: its adjoint is the forward one, weighted by how often
        # each column counts in a real field.
        adjoint = spectral.adjoint_norm(norm)
        grad_half = _spectrum(grad_out.to(dtype).contiguous().numpy(), m_x, adjoint)
        if not skip:
            _zero_dropped(grad_half, m_x, m_y)
        grad_spec = torch.from_numpy(grad_half)
        spec = None if kept is not None else torch.from_numpy(_spectrum(x.detach().numpy(), m_x, norm))  # recomputed
        weights = spectral.real_column_weights(width, m_x, dtype).view(1, 1, m_x, 1)  # over the m_x axis
        acc = mlp.new_grads()
        rows = _chunk_rows(mlp, m_x, dtype.itemsize)
        chunk_numel = rows * m_x * 2 * shape[3]
        buffers = (grad_spec.real.new_empty(chunk_numel), grad_spec.real.new_empty(chunk_numel))
        grad_views = _chunks(grad_spec, m_x, m_y, rows)
        views = _chunks(spec, m_x, m_y, rows) if spec is not None else [None] * len(grad_views)
        start = 0
        for view, grad_view in zip(views, grad_views):
            r = grad_view.shape[0]
            n = r * m_x
            grads = buffers[1][: chunk_numel * r // rows].view(k, n, -1)
            torch.mul(_block_view(grad_view, k), weights, out=grads.view(k, r, m_x, -1))
            if kept is None:
                z = buffers[0][: chunk_numel * r // rows].view(k, n, -1)
                z.view(k, r, m_x, -1).copy_(_block_view(view, k))
                mlp.backward_blocks(z, grads, acc)  # grads becomes the gradient at the MLP's input
            else:
                z, hidden, mask = kept.chunk(start, n)
                mlp.backward_blocks(z, grads, acc, hidden, mask)
            # The adjoint of the forward transform is the inverse one, divided by the weights; with the skip, added
            # to the transform of grad_out itself, whose inverse is the residual's gradient.
            grads = grads.view(k, r, m_x, -1).div_(weights)
            if skip:
                _block_view(grad_view, k).add_(grads)
            else:
                _block_view(grad_view, k).copy_(grads)
            start += n
        del kept, views, spec
        grad_x = torch.from_numpy(_field(grad_half, m_x, width, adjoint)) if ctx.needs_input_grad[0] else None
        return (grad_x, *mlp.param_grads(acc), None, None, None, None, None)
