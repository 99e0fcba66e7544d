"""AFNO's block-diagonal complex MLP as real matrix products on interleaved (real, imaginary) bins.

The fast CPU path of :class:`~afno_tutorial.mixers.afno.AFNO2d` (:mod:`.pocketfft`) holds the kept bins of one
channel block as a real ``(n, 2b)`` matrix, row ``i`` = bin ``i``, columns ``(re c0, im c0, re c1, ...)``: that is
:func:`torch.view_as_real` of a complex ``(n, b)`` matrix, so no copy is needed. A complex ``b_in x b_out`` weight
then is the real ``2 b_in x 2 b_out`` matrix of :func:`real_block_weight`, the component-wise ReLU and soft-shrink
act on that view directly, and both layers are plain (fused-bias) matrix products. This module runs the MLP on
block-major ``(k, n, 2b)`` chunks of every block (``forward_blocks``, one block at a time) and gives its
hand-written backward pass (``backward_blocks``, products batched over the blocks); the forward can also keep the
activations the backward needs.
"""

from __future__ import annotations

import torch

# Bytes of hidden activations per chunk of bins (about a core's L2 cache).
CHUNK_BYTES = 1 << 19


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


def complex_weight_grad(grad: torch.Tensor, n_in: int, n_out: int) -> torch.Tensor:
    """The gradient of :func:`real_block_weight`'s input from that of its output: ``(k, 2n_in, 2n_out) -> (2, k,
    n_in, n_out)`` (each real/imaginary weight appears twice in the real matrix)."""
    g = grad.view(-1, n_in, 2, n_out, 2)
    return torch.stack((g[:, :, 0, :, 0] + g[:, :, 1, :, 1], g[:, :, 0, :, 1] - g[:, :, 1, :, 0]))


def _interleave(bias: torch.Tensor) -> torch.Tensor:
    """``(2, k, n)`` real/imaginary biases -> ``(k, 2n)`` interleaved."""
    return torch.stack((bias[0], bias[1]), dim=-1).flatten(-2)


def _per_block(weight: torch.Tensor, bias: torch.Tensor | None) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """``weight (k, n_in, n_out)``, ``bias (k, n_out)`` or ``None`` -> block ``j``'s ``(weight, bias)`` for each
    ``j``."""
    return [(weight[j], None if bias is None else bias[j]) for j in range(weight.shape[0])]


def _split_bias_grad(grad: torch.Tensor | None) -> torch.Tensor | None:
    """The gradient of :func:`_interleave`'s input: ``(k, 2n) -> (2, k, n)``."""
    return None if grad is None else grad.view(grad.shape[0], -1, 2).permute(2, 0, 1)


class BlockMLP:
    """The MLP of one AFNO mixer, ready to run on interleaved real bins of dtype ``dtype``.

    Args:
        params: ``(w1, b1, w2, b2)`` in :class:`~afno_tutorial.mixers.afno.AFNO2d`'s layout (``w1 (2, k, b, h)``,
            ``b1 (2, k, h)``, ``w2 (2, k, h, b)``, ``b2 (2, k, b)``); ``w2 = b2 = None`` for the one-layer MLP,
            ``b1 = b2 = None`` without biases.
        threshold: ``lambda`` of the soft-shrink (0: none).
        dtype: the dtype of the bins (the weights are cast to it).
    """

    def __init__(self, params: tuple[torch.Tensor | None, ...], threshold: float, dtype: torch.dtype) -> None:
        w1, b1, w2, b2 = params
        self.params = params
        self.blocks, self.block, self.hidden = w1.shape[1], w1.shape[2], w1.shape[3]
        self.layers = 1 if w2 is None else 2
        self.threshold = threshold
        self.w1 = real_block_weight(w1.to(dtype))  # (k, 2b, 2h)
        self.b1 = None if b1 is None else _interleave(b1.to(dtype))  # (k, 2h)
        self.w2 = None if w2 is None else real_block_weight(w2.to(dtype))  # (k, 2h, 2b)
        self.b2 = None if b2 is None else _interleave(b2.to(dtype))
        # Per-block views, made once: the forward indexes them for every chunk.
        self._layer1 = _per_block(self.w1, self.b1)
        self._layer2 = None if self.w2 is None else _per_block(self.w2, self.b2)
        self._buffers: dict[str, torch.Tensor] = {}  # see _work

    def chunk_rows(self, element_size: int) -> int:
        """Bins per chunk: the hidden activations of a chunk fill about :data:`CHUNK_BYTES`."""
        return max(64, CHUNK_BYTES // (2 * max(self.hidden, self.block) * element_size))

    def linear(self, h: torch.Tensor, j: int, layer: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """``h: (n, 2 n_in)`` (rows may be strided) -> ``(n, 2 n_out)`` through block ``j`` of layer 1 or 2, into
        ``out`` when given."""
        weight, bias = (self._layer1 if layer == 1 else self._layer2)[j]
        if bias is None:
            return torch.mm(h, weight, out=out)
        return torch.addmm(bias, h, weight, out=out)

    def _work(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """A temporary of ``shape`` that every chunk of one call reuses: allocating a few MiB per chunk afresh
        costs page faults whenever the C allocator hands the memory back to the OS between chunks."""
        numel = 1
        for size in shape:
            numel *= size
        buffer = self._buffers.get(name)
        if buffer is None or buffer.numel() < numel:
            buffer = self._buffers[name] = torch.empty(numel, dtype=self.w1.dtype)
        return buffer[:numel].view(shape)

    def forward_blocks(self, z: torch.Tensor, out: torch.Tensor, hidden: torch.Tensor | None = None,
                       mask: torch.Tensor | None = None) -> None:
        """The MLP of every block on block-major bins ``z`` into ``out``.

        One block at a time: a block's temporaries (``n x 2h``) stay in a core's cache between its two products,
        which a single batched product over all blocks would not allow.

        Args:
            z: ``(k, n, 2b)`` interleaved input bins, block-major, each block's ``(n, 2b)`` matrix with unit
                column stride (rows may be strided); ``out`` may be ``z``.
            out: ``(k, n, 2b)`` contiguous, receives the MLP's output.
            hidden: ``(k, n, 2h)`` contiguous or ``None``: receives ``ReLU(z W1 + b1)`` for
                :meth:`backward_blocks` (two-layer MLP only).
            mask: ``(k, n, 2b)`` bool or ``None``: receives where the soft-shrink passes its input (``|a| >
                lambda``), for :meth:`backward_blocks` (only with a soft-shrink).
        """
        n = z.shape[1]
        pre = self._work("pre", (n, 2 * self.block))
        scratch = self._work("hidden", (n, 2 * self.hidden)) if self.layers == 2 and hidden is None else None
        for j in range(self.blocks):
            if self.layers == 2:
                h = hidden[j] if hidden is not None else scratch
                self.linear(z[j], j, 1, out=h).relu_()
                a = self.linear(h, j, 2, out=pre)
            else:
                a = self.linear(z[j], j, 1, out=pre)
            if self.threshold > 0:
                self._softshrink(a, out[j])
                if mask is not None:
                    # S(a) != 0 exactly where |a| > lambda. A float-to-bool cast says where a value is nonzero
                    # several times faster than the comparison op (vectorised; torch.ne is not, here).
                    mask[j].copy_(out[j])
            else:
                out[j].copy_(a)

    def _softshrink(self, a: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``S_lambda(a)`` into ``out`` (may be ``a``): ``a - clamp(a, -lambda, lambda)``, no fresh memory."""
        clamped = torch.clamp(a, -self.threshold, self.threshold, out=self._work("clamp", a.shape))
        return torch.sub(a, clamped, out=out)

    def backward_blocks(self, z: torch.Tensor, grad: torch.Tensor, acc: dict[str, torch.Tensor],
                        hidden: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> None:
        """Backward of every block on one chunk of block-major bins: adds the weight gradients into ``acc`` and
        overwrites ``grad`` (the gradient at the MLP's output) with the gradient at its input.

        All blocks at once, in batched matrix products: unlike the forward, the backward's products read operands
        from memory anyway (the kept activations), and fewer, larger products were faster here.

        Args:
            z: ``(k, n, 2b)`` contiguous, the MLP's input bins, block-major.
            grad: ``(k, n, 2b)`` contiguous.
            hidden, mask: what :meth:`forward_blocks` kept for these bins; recomputed from ``z`` when ``None``
                (two matrix products more).
        """
        k, n, _ = z.shape
        if (self.layers == 2 and hidden is None) or (self.threshold > 0 and mask is None):
            if self.layers == 2:
                hidden = self._linear_blocks(z, 1, out=self._work("hidden", (k, n, 2 * self.hidden))).relu_()
            pre = self._linear_blocks(hidden if self.layers == 2 else z, self.layers, out=self._work("pre", z.shape))
            if self.threshold > 0:  # the shrink passes its input's gradient where |pre| > lambda, else 0
                grad.mul_(torch.abs(pre, out=pre).gt_(self.threshold))
        elif self.threshold > 0:
            # The kept mask as 0/1 floats in a reused workspace: torch.where branches on every element, a bool
            # to float cast is not vectorised, and mul_ by the bytes themselves casts into a fresh temporary (page
            # faults, several times the work).
            grad.mul_(self._work("mask", grad.shape).copy_(mask.view(torch.uint8)))
        g = grad
        if self.layers == 2:
            acc["w2"].baddbmm_(hidden.transpose(1, 2), g)
            if "b2" in acc:
                acc["b2"] += g.sum(dim=1)
            g = torch.bmm(g, self.w2.transpose(1, 2), out=self._work("grad_hidden", hidden.shape))
            # hidden > 0 exactly where the pre-activation is: the ReLU's mask without the pre-activation. As
            # hidden >= 0, sign(hidden) is that mask as 0/1.
            g.mul_(torch.sign(hidden, out=self._work("relu_mask", hidden.shape)))
        acc["w1"].baddbmm_(z.transpose(1, 2), g)
        if "b1" in acc:
            acc["b1"] += g.sum(dim=1)
        if g is grad:  # one layer: the product cannot be written over its own input
            grad.copy_(torch.bmm(g, self.w1.transpose(1, 2), out=self._work("pre", grad.shape)))
        else:
            torch.bmm(g, self.w1.transpose(1, 2), out=grad)

    def _linear_blocks(self, h: torch.Tensor, layer: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """``h: (k, n, 2 n_in)`` -> ``(k, n, 2 n_out)`` through every block of layer 1 or 2, into ``out`` if given."""
        weight = self.w1 if layer == 1 else self.w2
        bias = self.b1 if layer == 1 else self.b2
        if bias is None:
            return torch.bmm(h, weight, out=out)
        return torch.baddbmm(bias.unsqueeze(1), h, weight, out=out)

    def new_grads(self) -> dict[str, torch.Tensor]:
        """Zeroed accumulators for :meth:`backward_blocks`, one per real-matrix parameter."""
        names = ("w1", "b1", "w2", "b2")
        return {name: torch.zeros_like(getattr(self, name)) for name in names if getattr(self, name) is not None}

    def param_grads(self, acc: dict[str, torch.Tensor]) -> tuple[torch.Tensor | None, ...]:
        """``acc`` of :meth:`backward_blocks` as gradients of ``params``, each in its parameter's layout and dtype."""
        grads = (
            complex_weight_grad(acc["w1"], self.block, self.hidden),
            _split_bias_grad(acc.get("b1")),
            complex_weight_grad(acc["w2"], self.hidden, self.block) if "w2" in acc else None,
            _split_bias_grad(acc.get("b2")),
        )
        return tuple(None if g is None else g.to(p.dtype) for g, p in zip(grads, self.params))
