"""Token-mixing maps: how strongly one output token depends on every input token.

For a mixer ``f: (1, H, W, C) -> (1, H, W, C)`` and an output token ``t``, the map is
``M_t[s] = || d f(x)[t, :] / d x[s, :] ||_F`` over all input tokens ``s``: a ``C x C`` Jacobian block per input
token, reduced to its Frobenius norm. A convolution (GFN, FNO) gives the same map for every ``t``, shifted; an
input-dependent mixer (attention, AFNO) need not.
"""

from __future__ import annotations

from typing import Callable

import torch


def token_jacobian_map(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       token: tuple[int, int]) -> torch.Tensor:
    """``(H, W)`` map of ``||d fn(x)[0, i, j, :] / d x[0, s, :]||_F`` for ``token = (i, j)``.

    Args:
        fn: maps ``(1, H, W, C)`` to ``(1, H, W, C')``.
        x: ``(1, H, W, C)``.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x: expected (1, H, W, C), got shape {tuple(x.shape)}")
    i, j = token
    height, width = x.shape[1:3]
    if not (0 <= i < height and 0 <= j < width):
        raise ValueError(f"token: expected a position inside the {height}x{width} grid, got {token}")
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = fn(x)[0, i, j]  # (C',)
        sq = torch.zeros(height, width, dtype=x.dtype)
        # One backward pass per output channel: rows of the Jacobian block.
        for c in range(out.shape[0]):
            (g,) = torch.autograd.grad(out[c], x, retain_graph=c + 1 < out.shape[0])
            sq += g[0].pow(2).sum(-1)
    return sq.sqrt().detach()
