"""Releasing PyTorch's OpenMP workers before SciPy's transforms (afno_tutorial.mixers._cpu.openmp)."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from afno_tutorial.mixers._cpu import pocketfft as afno_pocketfft
from afno_tutorial.mixers._cpu import openmp

LIBGOMP = openmp.release_available() and any("gomp" in p for p in openmp._loaded_runtime_paths())


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not LIBGOMP, reason="needs PyTorch on GNU OpenMP (Linux wheels)")
def test_release_lets_the_workers_go_and_the_next_operator_starts_them_again(monkeypatch) -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = torch.randn(1000, 1000)
        expected = (a @ a).double()
        before = _threads()  # the workers of the product above are alive
        assert openmp.release_threads()
        deadline = time.monotonic() + 5.0
        while _threads() >= before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _threads() == before - 1  # one worker besides the calling thread, gone
        torch.testing.assert_close((a @ a).double(), expected)  # the next operator starts it again, same result
        assert torch.get_num_threads() == 2 and _threads() == before
        monkeypatch.setattr(openmp, "ENABLED", False)
        assert not openmp.release_threads() and _threads() == before  # disabled: nothing happens
    finally:
        torch.set_num_threads(threads)


def test_scipy_transforms_release_the_workers_first(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(afno_pocketfft, "release_threads", lambda: calls.append(1) or True)
    a = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(afno_pocketfft.scipy_fft("rfft", a, axis=1), np.fft.rfft(a, axis=1), rtol=1e-5,
                               atol=1e-5)  # fmt: skip
    assert calls == [1]


def test_without_an_openmp_backend_release_is_a_no_op(monkeypatch) -> None:
    openmp._pause.cache_clear()
    monkeypatch.setattr(torch.__config__, "parallel_info", lambda: "ATen parallel backend: native thread pool")
    try:
        assert not openmp.release_available() and not openmp.release_threads()
    finally:
        monkeypatch.undo()
        openmp._pause.cache_clear()
