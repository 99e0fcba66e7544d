"""The buffer pool hands a buffer out again only when nothing refers to it any more."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from afno_tutorial.mixers._cpu.buffer_pool import POOL, BufferPool, pooled_tensor


def _address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def test_a_free_buffer_of_the_same_size_is_handed_out_again_whatever_its_dtype() -> None:
    pool = BufferPool(min_bytes=0)
    a = pool.empty((4, 10), np.complex64)
    address = _address(a)
    assert a.shape == (4, 10) and a.dtype == np.complex64 and a.flags.c_contiguous and a.flags.writeable
    del a
    b = pool.empty((80,), np.float32)  # the same 320 bytes
    assert _address(b) == address and b.shape == (80,) and b.dtype == np.float32
    assert pool.stats() == {"buffers": 1, "bytes": 320, "free_buffers": 0, "free_bytes": 0}


def test_a_buffer_in_use_is_not_handed_out_twice() -> None:
    pool = BufferPool(min_bytes=0)
    a = pool.empty((64,), np.float64)
    b = pool.empty((64,), np.float64)
    assert _address(a) != _address(b)
    a[:] = 1.0
    b[:] = 2.0
    assert (a == 1.0).all()
    assert pool.stats()["buffers"] == 2


def test_views_and_tensors_over_a_buffer_keep_it_taken() -> None:
    pool = BufferPool(min_bytes=0)
    a = pool.empty((8, 8), np.float32)
    address = _address(a)
    column = a[:, 3]  # a view of a view: numpy would collapse its base to the pooled memory's owner
    tensor = torch.from_numpy(a)[2:]
    del a
    assert pool.stats()["free_buffers"] == 0 and _address(pool.empty((64,), np.float32)) != address
    del column
    assert pool.stats()["free_buffers"] == 1  # the buffer just handed out is free again, the tensor's is not
    tensor.fill_(3.0)
    del tensor
    assert pool.stats()["free_buffers"] == 2


def test_a_tensor_from_the_pool_returns_its_buffer_when_autograd_frees_it(monkeypatch) -> None:
    monkeypatch.setattr(POOL, "min_bytes", 0)
    monkeypatch.setattr(POOL, "_buffers", [])
    w = torch.randn(100, requires_grad=True)
    kept = pooled_tensor((100,), torch.float32).copy_(torch.randn(100))

    class Scale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[override]
            ctx.save_for_backward(kept)  # noqa: F821 (the enclosing function's, deleted after this call)
            return x * kept  # noqa: F821

        @staticmethod
        def backward(ctx, grad):  # type: ignore[override]
            (k,) = ctx.saved_tensors
            return grad * k

    y = Scale.apply(w)
    expected = kept.clone()
    del kept
    gc.collect()
    assert POOL.stats()["free_buffers"] == 0  # saved for the backward: still taken
    y.sum().backward()
    torch.testing.assert_close(w.grad, expected)
    del y
    assert POOL.stats() == {"buffers": 1, "bytes": 400, "free_buffers": 1, "free_bytes": 400}


def test_free_buffers_beyond_the_idle_limit_are_let_go_oldest_first() -> None:
    pool = BufferPool(max_idle_bytes=150, min_bytes=0)
    a, b, c = (pool.empty((100,), np.uint8) for _ in range(3))
    address_c = _address(c)
    del a, b, c
    d = pool.empty((50,), np.uint8)  # a new size; 300 free bytes > 150: the two oldest free buffers go
    assert pool.stats() == {"buffers": 2, "bytes": 150, "free_buffers": 1, "free_bytes": 100}
    assert _address(pool.empty((100,), np.uint8)) == address_c
    del d
    taken = [pool.empty((100,), np.uint8) for _ in range(4)]  # buffers coming back are trimmed too
    assert pool.stats()["free_bytes"] == 50  # d's buffer
    del taken
    assert pool.stats()["free_bytes"] <= 150


def test_small_requests_and_a_disabled_pool_are_not_pooled() -> None:
    pool = BufferPool(min_bytes=1024)
    small = pool.empty((10,), np.float32)
    assert small.shape == (10,) and pool.stats()["buffers"] == 0
    pool.min_bytes = 0
    pool.enabled = False
    assert pool.empty((10,), np.float32).shape == (10,) and pool.stats()["buffers"] == 0


def test_clear_lets_every_buffer_go_and_taken_ones_stay_valid() -> None:
    pool = BufferPool(min_bytes=0)
    a = pool.empty((16,), np.float32)
    a[:] = 5.0
    pool.clear()
    assert pool.stats()["buffers"] == 0
    b = pool.empty((16,), np.float32)
    b[:] = 1.0
    assert (a == 5.0).all()


def test_bad_limit_and_dtype_are_refused() -> None:
    with pytest.raises(ValueError, match="max_idle_bytes: expected >= 0"):
        BufferPool(max_idle_bytes=-1)
    with pytest.raises(ValueError, match="dtype: expected one of .*got torch.bfloat16"):
        pooled_tensor((4,), torch.bfloat16)
