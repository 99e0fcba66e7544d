"""AFNO computed tile by tile: the fast CPU path of :class:`~afno_tutorial.mixers.afno.AFNO2d`.

The channel MLP is block-diagonal, so each block of ``b`` channels is its own FFT -> MLP -> inverse FFT problem.
A *tile* is one block of a few samples, ``x[b0:b1, :, :, c0:c1]``; working one tile at a time

- keeps every temporary near the size of the CPU caches (a 256x256 grid with 32 channels is 8 MiB) instead of
  several full-size spectra that live in main memory and page-fault on first touch;
- needs no layout transpose: a tile copied out of the channels-last ``(B, H, W, C)`` tensor is a copy of short
  contiguous runs, and ``rfft2`` over ``(B, H, W, 32)`` is about as fast as over channels first, while over
  ``(B, H, W, 256)`` it is several times slower;
- makes the peak memory of a forward the output plus one tile's temporaries.

The complex MLP runs as real matrix products on the interleaved (real, imaginary) view of the spectrum: a
complex ``n_in x n_out`` weight is the real ``2 n_in x 2 n_out`` matrix of :func:`real_block_weight`, and the
component-wise ReLU and soft-shrink act on that view directly.

The backward pass recomputes each tile's spectrum and activations instead of storing them (training keeps only
the input), and uses the adjoints of the truncated transforms (``spectral.real_column_weights``): its
gradients equal those autograd computes through the plain whole-tensor path (tested, also by ``gradcheck``).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .. import spectral

# Bytes of one tile's input; its spectrum and output are about as large again each, so a few tiles' worth stays
# within a 32 MiB last-level cache. A 256x256 grid with 32 channels (one block at C=256) is exactly one tile.
DEFAULT_TILE_BYTES = 8 << 20
# Inputs above this size take the tiled path by default. Below it the plain path's full-size temporaries still
# fit in the last-level cache and it is as fast or faster; measure the switch point on a machine with
# `python -m afno_tutorial.bench --mixers afno:tiled=True afno:tiled=False --grids 32 64 128 192 256 --no-memory`.
TILED_MIN_BYTES = 16 << 20
# Bytes of hidden activations per chunk of bins in the MLP (a core's L2 cache).
_CHUNK_BYTES = 1 << 19


def real_block_weight(w: torch.Tensor) -> torch.Tensor:
    """Complex block weights as real matrices acting on interleaved (real, imaginary) vectors.

    Args:
        w: ``(2, k, n_in, n_out)``, real and imaginary parts (reference layout, ``out = in @ w``).

    Returns:
        ``(k, 2*n_in, 2*n_out)``: row ``2i + p`` (input ``i``, part ``p``), column ``2o + q``, so that
        ``view_as_real(z).flatten(-2) @ W == view_as_real(z @ complex(w[0], w[1])).flatten(-2)``.
    """
    real, imag = w[0], w[1]
    from_real = torch.stack((real, imag), dim=-1)  # a real input part feeds (real, imag) of the output
    from_imag = torch.stack((-imag, real), dim=-1)  # an imaginary one feeds (-imag, real)
    k, n_in, n_out = real.shape
    return torch.stack((from_real, from_imag), dim=2).reshape(k, 2 * n_in, 2 * n_out)


def _complex_weight_grad(grad: torch.Tensor, n_in: int, n_out: int) -> torch.Tensor:
    """The gradient of :func:`real_block_weight`'s input from that of its output: ``(k, 2n_in, 2n_out) -> (2, k,
    n_in, n_out)`` (each real/imaginary weight appears twice in the real matrix)."""
    g = grad.view(-1, n_in, 2, n_out, 2)
    return torch.stack((g[:, :, 0, :, 0] + g[:, :, 1, :, 1], g[:, :, 0, :, 1] - g[:, :, 1, :, 0]))


def _split_bias_grad(grad: torch.Tensor | None) -> torch.Tensor | None:
    """The gradient of :func:`_interleave`'s input: ``(k, 2n) -> (2, k, n)``."""
    return None if grad is None else grad.view(grad.shape[0], -1, 2).permute(2, 0, 1)


def _interleave(bias: torch.Tensor) -> torch.Tensor:
    """``(2, k, n)`` real/imaginary biases -> ``(k, 2n)`` interleaved."""
    return torch.stack((bias[0], bias[1]), dim=-1).flatten(-2)


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
    tile_bytes: int = DEFAULT_TILE_BYTES,
) -> torch.Tensor:
    """``x + irfft2(AFNO-MLP(rfft2(x)))`` tile by tile, differentiable in ``x`` and all weights.

    Args:
        x: ``(B, H, W, C)`` real (float32 or float64), channels last.
        w1, b1, w2, b2: the MLP's parameters in the layout of :class:`~afno_tutorial.mixers.afno.AFNO2d`
            (``w1 (2, k, b, h)``, ``b1 (2, k, h)``, ``w2 (2, k, h, b)``, ``b2 (2, k, b)``); ``w2 = b2 = None`` for
            the one-layer MLP, ``b1 = b2 = None`` without biases.
        modes: the kept set ``(m_y, m_x)``, already checked to fit the grid.
        norm: the FFT normalisation.
        sparsity_threshold: ``lambda`` of the soft-shrink (0: none).
        tile_bytes: input bytes per tile (see :func:`plan_tiles`).

    Returns:
        ``(B, H, W, C)``, the mixer's output including the residual ``x``. The Hermitian projection of the
        ``k_x = 0`` and Nyquist columns is the one CPU ``irfft`` applies.
    """
    return _AFNOTiled.apply(x, w1, b1, w2, b2, modes, norm, float(sparsity_threshold), int(tile_bytes))


class _Plan:
    """Sizes and real-matrix weights shared by the forward and backward passes.

    ``params``: ``(w1, b1, w2, b2)`` as :func:`afno_tiled` takes them.
    """

    def __init__(
        self, x: torch.Tensor, params: tuple[torch.Tensor, ...], modes: tuple[int, int], threshold: float, tile_bytes: int
    ) -> None:
        w1, b1, w2, b2 = params
        self.batch, self.height, self.width, channels = x.shape
        self.blocks, self.block, self.hidden = w1.shape[1], w1.shape[2], w1.shape[3]
        if channels != self.blocks * self.block:
            raise ValueError(f"x: expected {self.blocks * self.block} channels, got {channels}")
        self.modes, self.threshold = modes, threshold
        self.layers = 1 if w2 is None else 2
        dtype = x.dtype
        self.w1 = real_block_weight(w1.to(dtype))  # (k, 2b, 2h)
        self.b1 = None if b1 is None else _interleave(b1.to(dtype))  # (k, 2h)
        self.w2 = None if w2 is None else real_block_weight(w2.to(dtype))  # (k, 2h, 2b)
        self.b2 = None if b2 is None else _interleave(b2.to(dtype))
        sample_block = self.height * self.width * self.block * x.element_size()
        self.tiles = plan_tiles(self.batch, self.blocks, sample_block, tile_bytes)

    def chunk_rows(self, element_size: int) -> int:
        """Bins per MLP chunk: the hidden activations of a chunk fill about ``_CHUNK_BYTES``."""
        return max(64, _CHUNK_BYTES // (2 * max(self.hidden, self.block) * element_size))

    def spectrum(self, tile: torch.Tensor, norm: str) -> torch.Tensor:
        """``tile: (b, H, W, c)`` real -> kept bins ``(b, R, M, c)`` complex, contiguous."""
        return spectral.rfft2_kept(tile, self.modes, norm, dim=(1, 2)).contiguous()

    def field(self, z: torch.Tensor, norm: str) -> torch.Tensor:
        """Kept bins ``(b, R, M, c)`` -> real ``(b, H, W, c)`` (a channels-first buffer seen channels last)."""
        height, width = self.height, self.width
        (m_y, m_x), rows = self.modes, z.shape[1]
        if rows == height and m_x == width // 2 + 1:
            return spectral.irfft2_kept(z, (height, width), self.modes, norm, True, dim=(1, 2))
        # Truncated: the FFT library transforms along the innermost axis and returns that layout anyway, so the
        # zero padding of each axis is written straight into that layout, each pad fused with its transpose (one
        # pass over memory per axis instead of a pad followed by the library's own transposing copy).
        by_rows = z.new_empty(z.shape[0], z.shape[3], m_x, height)  # (b, c, M, H)
        if rows == height:
            by_rows.copy_(z.permute(0, 3, 2, 1))
        else:
            by_rows[..., :m_y].copy_(z[:, :m_y].permute(0, 3, 2, 1))
            by_rows[..., m_y : height - m_y + 1].zero_()
            by_rows[..., height - m_y + 1 :].copy_(z[:, m_y:].permute(0, 3, 2, 1))
        t = torch.fft.ifft(by_rows, dim=-1, norm=norm)
        by_columns = z.new_empty(z.shape[0], z.shape[3], height, width // 2 + 1)  # (b, c, H, W//2+1)
        by_columns[..., m_x:].zero_()
        by_columns[..., :m_x].copy_(t.transpose(-1, -2))
        # CPU real inverse FFTs apply the Hermitian projection of the real columns themselves (see irfft2_kept).
        return torch.fft.irfft(by_columns, n=width, dim=-1, norm=norm).permute(0, 2, 3, 1)

    def linear(self, h: torch.Tensor, j: int, layer: int) -> torch.Tensor:
        """``h: (n, 2 n_in)`` -> ``(n, 2 n_out)`` through block ``j`` of layer 1 or 2."""
        weight = (self.w1 if layer == 1 else self.w2)[j]
        bias = self.b1 if layer == 1 else self.b2
        if bias is None:
            return torch.mm(h, weight)
        return torch.addmm(bias[j], h, weight)


class _AFNOTiled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, modes, norm, threshold, tile_bytes):  # type: ignore[override]
        plan = _Plan(x, (w1, b1, w2, b2), modes, threshold, tile_bytes)
        out = torch.empty_like(x)
        b = plan.block
        for n0, n1, j in plan.tiles:
            c0, c1 = j * b, (j + 1) * b
            z = plan.spectrum(x[n0:n1, :, :, c0:c1].contiguous(), norm)
            bins = torch.view_as_real(z).view(-1, 2 * b)  # (n, 2b), written in place
            step = plan.chunk_rows(x.element_size())
            for s in range(0, bins.shape[0], step):
                chunk = bins[s : s + step]
                h = plan.linear(chunk, j, 1)
                if plan.layers == 2:
                    h = plan.linear(h.relu_(), j, 2)
                if threshold > 0:  # soft-shrink into the spectrum in place: S(h) = h - clamp(h, -lambda, lambda)
                    torch.sub(h, torch.clamp(h, -threshold, threshold, out=chunk), out=chunk)
                else:
                    chunk.copy_(h)
            torch.add(x[n0:n1, :, :, c0:c1], plan.field(z, norm), out=out[n0:n1, :, :, c0:c1])
        ctx.save_for_backward(x, w1, b1, w2, b2)
        ctx.settings = (modes, norm, threshold, tile_bytes)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        x, w1, b1, w2, b2 = ctx.saved_tensors
        modes, norm, threshold, tile_bytes = ctx.settings
        plan = _Plan(x, (w1, b1, w2, b2), modes, threshold, tile_bytes)
        grad_out = grad_out.contiguous()
        need_x = ctx.needs_input_grad[0]
        grad_x = torch.empty_like(x) if need_x else None
        acc = {
            name: torch.zeros_like(getattr(plan, name))
            for name in ("w1", "b1", "w2", "b2")
            if getattr(plan, name) is not None
        }
        adjoint = spectral.adjoint_norm(norm)
        weights = spectral.real_column_weights(plan.width, modes[1], x.dtype).view(-1, 1)  # over the M axis
        b = plan.block
        for n0, n1, j in plan.tiles:
            c0, c1 = j * b, (j + 1) * b
            grad_tile = grad_out[n0:n1, :, :, c0:c1]
            # d loss / d(kept bins) through the inverse transform: its adjoint is the forward one, weighted.
            grad_z = plan.spectrum(grad_tile.contiguous(), adjoint).mul_(weights)
            z = plan.spectrum(x[n0:n1, :, :, c0:c1].contiguous(), norm)
            bins = torch.view_as_real(z).view(-1, 2 * b)
            grads = torch.view_as_real(grad_z).view(-1, 2 * b)
            step = plan.chunk_rows(x.element_size())
            for s in range(0, bins.shape[0], step):
                _mlp_backward(plan, bins[s : s + step], grads[s : s + step], j, acc)
            if need_x:
                grad_z.div_(weights)  # the adjoint of the forward transform is the inverse one, divided by them
                torch.add(grad_tile, plan.field(grad_z, adjoint), out=grad_x[n0:n1, :, :, c0:c1])
        grads_out = (
            _complex_weight_grad(acc["w1"], plan.block, plan.hidden),
            _split_bias_grad(acc.get("b1")),
            _complex_weight_grad(acc["w2"], plan.hidden, plan.block) if "w2" in acc else None,
            _split_bias_grad(acc.get("b2")),
        )
        cast = [None if g_ is None else g_.to(p.dtype) for g_, p in zip(grads_out, (w1, b1, w2, b2))]
        return (grad_x, *cast, None, None, None, None)


def _mlp_backward(plan: _Plan, z: torch.Tensor, grad: torch.Tensor, j: int, acc: dict) -> None:
    """Backward of the MLP on one chunk of bins; accumulates weight gradients into ``acc`` and overwrites ``grad``
    (the gradient at the MLP's output) with the gradient at its input.

    Args:
        z: ``(n, 2b)`` interleaved kept bins of block ``j``.
        grad: ``(n, 2b)``, same layout.
    """
    a1 = plan.linear(z, j, 1)  # recomputed pre-activations
    if plan.layers == 2:
        h = a1.relu()
        a2 = plan.linear(h, j, 2)
    else:
        h, a2 = None, a1
    g = grad * (a2.abs() > plan.threshold) if plan.threshold > 0 else grad.clone()
    if plan.layers == 2:
        acc["w2"][j].addmm_(h.t(), g)
        if "b2" in acc:
            acc["b2"][j] += g.sum(dim=0)
        g = torch.mm(g, plan.w2[j].t()).mul_(a1 > 0)
    acc["w1"][j].addmm_(z.t(), g)
    if "b1" in acc:
        acc["b1"][j] += g.sum(dim=0)
    grad.copy_(torch.mm(g, plan.w1[j].t()))
