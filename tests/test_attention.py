"""SelfAttention2d against a plain softmax(QK^T / sqrt(d)) V computation."""

from __future__ import annotations

import torch

from afno_tutorial import SelfAttention2d


def test_matches_plain_attention():
    torch.manual_seed(0)
    layer = SelfAttention2d(16, num_heads=4).double()
    x = torch.randn(2, 5, 3, 16, dtype=torch.float64)
    tokens = x.reshape(2, 15, 16)
    q, k, v = layer.qkv(tokens).chunk(3, dim=-1)

    def heads(t):
        return t.reshape(2, 15, 4, 4).transpose(1, 2)

    attn = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / 2.0, dim=-1)
    out = (attn @ heads(v)).transpose(1, 2).reshape(2, 15, 16)
    torch.testing.assert_close(layer(x), layer.proj(out).reshape(2, 5, 3, 16))


def test_is_permutation_equivariant_over_tokens():
    # Without position information, attention treats tokens as a set: a circular shift commutes too.
    torch.manual_seed(0)
    layer = SelfAttention2d(8, num_heads=2).double()
    x = torch.randn(1, 6, 6, 8, dtype=torch.float64)
    torch.testing.assert_close(layer(torch.roll(x, (2, 1), (1, 2))), torch.roll(layer(x), (2, 1), (1, 2)))


def test_gradients_reach_every_parameter():
    layer = SelfAttention2d(8, num_heads=2)
    layer(torch.randn(1, 4, 4, 8)).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layer.parameters())
