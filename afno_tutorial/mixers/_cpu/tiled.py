"""AFNO computed tile by tile with PyTorch's FFT: a CPU path of :class:`~afno_tutorial.mixers.afno.AFNO2d`
(``path="tiled"``; the default fast path, :mod:`.afno_pocketfft`, avoids this path's transposes).

The channel MLP is block-diagonal, so each block of ``b`` channels is its own FFT -> MLP -> inverse FFT problem.
A *tile* is one block of a few samples, ``x[b0:b1, :, :, c0:c1]``; working one tile at a time

- keeps every temporary near the size of the CPU caches (a 256x256 grid with 32 channels is 8 MiB) instead of
  several full-size spectra that live in main memory and page-fault on first touch;
- makes the peak memory of a forward the output plus one tile's temporaries.

PyTorch's CPU FFTs return the transformed axis innermost, whatever the input's layout, so each step is arranged
around the layout the previous one leaves behind (``tile`` is ``(b, H, W, c)``):

1. the tile is transposed to ``(b, H, c, W)`` and ``half = rfft(tile)`` over ``W``, ``(b, H, c, W//2+1)``;
2. the kept columns are transformed over ``H``, ``(b, c, M, H)``, and the kept rows gathered, channels innermost,
   into the bins ``z (b, M, R, c)`` that the MLP reads (every bin alike, so their order is free);
3. the MLP updates ``z`` in place, chunk by chunk;
4. ``z`` is zero-padded over the rows into ``(b, c, M, H)`` and inverse transformed over ``H``, then added into the
   kept columns of ``half``: the inverse over ``W`` is linear and undoes step 1, so ``irfft(half)`` is the tile
   plus the mixer's field, the residual without a separate pass, ``(b, H, c, W)`` in memory;
5. that result is transposed within each row into the channels-last output.

At ``hard_thresholding_fraction < 1`` every step but the transforms over ``W`` and the transposes in and out
shrinks with the kept bins.

The complex MLP runs as real matrix products on the interleaved (real, imaginary) view of the spectrum
(:mod:`.afno_block_mlp`).

The backward pass recomputes each tile's spectrum and activations instead of storing them (training keeps only
the input), and uses the adjoints of the truncated transforms (``spectral.real_column_weights``): its
gradients equal those autograd computes through the plain whole-tensor path (tested, also by ``gradcheck``).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ... import spectral
from .block_mlp import BlockMLP
from .huge_pages import advise_huge_pages

# Bytes of one tile's input; its spectrum and output are about as large again each, so a few tiles' worth stays
# within a 32 MiB last-level cache. A 256x256 grid with 32 channels (one block at C=256) is exactly one tile.
DEFAULT_TILE_BYTES = 8 << 20


def plan_tiles(batch: int, num_blocks: int, sample_block_bytes: int, tile_bytes: int) -> list[tuple[int, int, int]]:
    """Split the (sample, channel block) grid into tiles of one block and about ``tile_bytes`` of input each.

    One block per tile: ``rfft2`` over channels-last data is fast only while few channels are interleaved (32
    and fewer), and a block is the MLP's unit. All samples of a block go in one tile while they fit in
    ``tile_bytes``; beyond that the samples are split.

    Args:
        sample_block_bytes: bytes of one sample's one block, ``H * W * b * element_size``.

    Returns:
        ``[(b0, b1, j), ...]``: samples ``b0:b1`` of block ``j`` for each tile, covering the grid once.
    """
    samples = max(1, min(batch, tile_bytes // max(1, sample_block_bytes)))
    return [(b, min(b + samples, batch), j) for j in range(num_blocks) for b in range(0, batch, samples)]


# Under torch.compile the tiles run as one eager call (a graph break): Dynamo would otherwise unroll the Python
# loop over tiles, and the hand-written backward is not traceable.
@torch.compiler.disable
def afno_tiled(
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
    tile_bytes: int = DEFAULT_TILE_BYTES,
) -> torch.Tensor:
    """``irfft2(AFNO-MLP(rfft2(x)))`` (plus ``x`` with ``inner_skip``) tile by tile, differentiable in ``x`` and all weights.

    Args:
        x: ``(B, H, W, C)`` real (float32 or float64), channels last.
        w1, b1, w2, b2: the MLP's parameters in the layout of :class:`~afno_tutorial.mixers.afno.AFNO2d`
            (``w1 (2, k, b, h)``, ``b1 (2, k, h)``, ``w2 (2, k, h, b)``, ``b2 (2, k, b)``); ``w2 = b2 = None`` for
            the one-layer MLP, ``b1 = b2 = None`` without biases.
        modes: the kept set ``(m_y, m_x)``, already checked to fit the grid.
        norm: the FFT normalisation.
        sparsity_threshold: ``lambda`` of the soft-shrink (0: none).
        inner_skip: add ``x`` to the result.
        tile_bytes: input bytes per tile (see :func:`plan_tiles`).

    Returns:
        ``(B, H, W, C)``, the mixer's output (including ``x`` with ``inner_skip``). The Hermitian projection of the
        ``k_x = 0`` and Nyquist columns is the one CPU ``irfft`` applies.
    """
    return _AFNOTiled.apply(x, w1, b1, w2, b2, modes, norm, float(sparsity_threshold), bool(inner_skip),
                            int(tile_bytes))


class _Plan:
    """Sizes and real-matrix weights shared by the forward and backward passes.

    ``params``: ``(w1, b1, w2, b2)`` as :func:`afno_tiled` takes them.
    """

    def __init__(
        self, x: torch.Tensor, params: tuple[torch.Tensor, ...], modes: tuple[int, int], threshold: float, tile_bytes: int
    ) -> None:
        self.mlp = BlockMLP(params, threshold, x.dtype)
        self.batch, self.height, self.width, channels = x.shape
        self.blocks, self.block = self.mlp.blocks, self.mlp.block
        if channels != self.blocks * self.block:
            raise ValueError(f"x: expected {self.blocks * self.block} channels, got {channels}")
        self.modes = modes
        self.rows = spectral.kept_row_count(self.height, modes[0])
        sample_block = self.height * self.width * self.block * x.element_size()
        self.tiles = plan_tiles(self.batch, self.blocks, sample_block, tile_bytes)

    def spectrum(self, tile: torch.Tensor, norm: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``tile: (b, H, W, c)`` real -> ``(z, half)``: the kept bins ``z`` and ``half = rfft(tile)`` over ``W``.

        Returns:
            ``z``: ``(b, M, R, c)`` complex, contiguous. The bins are stored column by column (``k_x`` outer,
            ``k_y`` inner in :func:`~afno_tutorial.spectral.rfft2_kept`'s row order), channels innermost: the MLP
            treats every bin alike, and this is the order the transforms leave behind, so keeping only the kept
            rows costs one pass over the kept bins.
            ``half``: ``(b, H, W//2+1, c)`` complex (``(b, H, c, W//2+1)`` in memory), for :meth:`field`.
        """
        height = self.height
        (m_y, m_x), rows = self.modes, self.rows
        # The library's FFTs return the transformed axis innermost: rfft over W gives (b, H, c, W//2+1) in memory,
        # and the fft over H of the kept columns gives (b, c, M, H).
        half = torch.fft.rfft(_rows_innermost(tile), dim=-1, norm=norm).transpose(2, 3)
        f = torch.fft.fft(half[:, :, :m_x].permute(0, 3, 2, 1), dim=-1, norm=norm)  # (b, c, M, H)
        z = f.new_empty(f.shape[0], m_x, rows, f.shape[1])  # (b, M, R, c)
        if rows == height:
            z.copy_(f.permute(0, 2, 3, 1))
        else:  # gather the kept rows and move channels innermost in the same pass
            z[:, :, :m_y].copy_(f[..., :m_y].permute(0, 2, 3, 1))
            z[:, :, m_y:].copy_(f[..., height - m_y + 1 :].permute(0, 2, 3, 1))
        return z, half

    def field(self, z: torch.Tensor, half: torch.Tensor, norm: str, skip: bool) -> torch.Tensor:
        """``tile + irfft2(z)`` (``irfft2(z)`` without ``skip``) from the kept bins ``z (b, M, R, c)`` and ``half = rfft(tile)`` over ``W`` as
        :meth:`spectrum` returns them (``half`` is overwritten).

        Returns:
            real ``(b, H, W, c)``, ``(b, H, c, W)`` in memory.
        """
        height, width = self.height, self.width
        (m_y, m_x), rows = self.modes, self.rows
        # The zero padding of the rows is written straight into the layout the inverse transform works in
        # (transformed axis innermost), fused with the transpose it needs.
        by_rows = z.new_empty(z.shape[0], z.shape[3], m_x, height)  # (b, c, M, H)
        if rows == height:
            by_rows.copy_(z.permute(0, 3, 1, 2))
        else:
            by_rows[..., :m_y].copy_(z[:, :, :m_y].permute(0, 3, 1, 2))
            by_rows[..., m_y : height - m_y + 1].zero_()
            by_rows[..., height - m_y + 1 :].copy_(z[:, :, m_y:].permute(0, 3, 1, 2))
        t = torch.fft.ifft(by_rows, dim=-1, norm=norm)
        # The residual joins before the last transform: irfft over W is linear and undoes rfft over W, so
        # irfft(half + pad(t)) = tile + irfft(pad(t)). This saves the zero-padded buffer, and the result comes
        # out as (b, H, c, W), which reaches channels last by transposing within each row instead of over the
        # whole grid. CPU real inverse FFTs apply the Hermitian projection of the real columns themselves (see
        # irfft2_kept); the k_x = 0 and Nyquist bins of half are real already.
        if skip:
            half[:, :, :m_x].add_(t.permute(0, 3, 2, 1))
        else:
            half[:, :, m_x:].zero_()
            half[:, :, :m_x].copy_(t.permute(0, 3, 2, 1))
        return torch.fft.irfft(half, n=width, dim=2, norm=norm)


def _rows_innermost(tile: torch.Tensor) -> torch.Tensor:
    """``tile: (b, H, W, c)`` (any strides) -> ``(b, H, c, W)`` contiguous, the layout the FFT over ``W`` reads.

    A contiguous copy followed by PyTorch's channels-last to channels-first conversion (a blocked transpose), which
    is faster than the one permuted copy the FFT would make of the strided tile itself.
    """
    b, height, width, c = tile.shape
    flat = tile.contiguous().view(b * height, width, 1, c).permute(0, 3, 2, 1)  # NCHW seen, NHWC in memory
    return flat.contiguous().view(b, height, c, width)


class _AFNOTiled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, modes, norm, threshold, skip, tile_bytes):  # type: ignore[override]
        plan = _Plan(x, (w1, b1, w2, b2), modes, threshold, tile_bytes)
        out = torch.empty_like(x)
        # Each tile writes 128-byte runs spread over all of the output: with 4 KiB pages every tile touches every
        # page (first-touch faults, TLB misses); 2 MiB pages make those far fewer.
        advise_huge_pages(out)
        b = plan.block
        for n0, n1, j in plan.tiles:
            c0, c1 = j * b, (j + 1) * b
            z, half = plan.spectrum(x[n0:n1, :, :, c0:c1], norm)
            bins = torch.view_as_real(z).view(-1, 2 * b)  # (n, 2b), written in place
            step = plan.mlp.chunk_rows(x.element_size())
            for s in range(0, bins.shape[0], step):
                plan.mlp.forward_(bins[s : s + step], j)
            out[n0:n1, :, :, c0:c1].copy_(plan.field(z, half, norm, skip))  # the mixer's field (+ x)
        ctx.save_for_backward(x, w1, b1, w2, b2)
        ctx.settings = (modes, norm, threshold, skip, tile_bytes)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        x, w1, b1, w2, b2 = ctx.saved_tensors
        modes, norm, threshold, skip, tile_bytes = ctx.settings
        plan = _Plan(x, (w1, b1, w2, b2), modes, threshold, tile_bytes)
        need_x = ctx.needs_input_grad[0]
        grad_x = torch.empty_like(x) if need_x else None
        if grad_x is not None:
            advise_huge_pages(grad_x)
        acc = plan.mlp.new_grads()
        adjoint = spectral.adjoint_norm(norm)
        weights = spectral.real_column_weights(plan.width, modes[1], x.dtype).view(-1, 1, 1)  # over the M axis
        b = plan.block
        for n0, n1, j in plan.tiles:
            c0, c1 = j * b, (j + 1) * b
            # d loss / d(kept bins) through the inverse transform: its adjoint is the forward one, weighted.
            grad_z, grad_half = plan.spectrum(grad_out[n0:n1, :, :, c0:c1], adjoint)
            grad_z.mul_(weights)
            z, _ = plan.spectrum(x[n0:n1, :, :, c0:c1], norm)
            bins = torch.view_as_real(z).view(-1, 2 * b)
            grads = torch.view_as_real(grad_z).view(-1, 2 * b)
            step = plan.mlp.chunk_rows(x.element_size())
            for s in range(0, bins.shape[0], step):
                plan.mlp.backward_(bins[s : s + step], grads[s : s + step], j, acc)
            if need_x:
                grad_z.div_(weights)  # the adjoint of the forward transform is the inverse one, divided by them
                grad_x[n0:n1, :, :, c0:c1].copy_(plan.field(grad_z, grad_half, adjoint, skip))  # (+ the residual's)
        return (grad_x, *plan.mlp.param_grads(acc), None, None, None, None, None)
