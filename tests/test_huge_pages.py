"""Huge-page advice: given only where it can apply, never changes a tensor."""

import sys

import pytest
import torch

from afno_tutorial.mixers._cpu.huge_pages import HUGE_PAGE_BYTES, advise_huge_pages, huge_pages_available


def test_advice_is_given_for_large_fresh_tensors_where_huge_pages_exist() -> None:
    x = torch.empty(4 * HUGE_PAGE_BYTES // 4)  # 8 MiB of float32: at least three whole aligned huge pages
    advised = advise_huge_pages(x)
    assert advised == huge_pages_available()
    if sys.platform.startswith("linux"):
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            assert huge_pages_available() == ("[never]" not in f.read())
    else:
        assert not huge_pages_available()
    # The memory behaves as before: written after the advice, read back unchanged.
    x.copy_(torch.arange(x.numel(), dtype=torch.float32))
    assert x[12345].item() == 12345.0 and x[-1].item() == float(x.numel() - 1)


def test_advice_is_refused_where_it_cannot_apply() -> None:
    assert not advise_huge_pages(torch.empty(1000))  # smaller than one huge page
    big = torch.empty(2, 4 * HUGE_PAGE_BYTES // 4)
    assert not advise_huge_pages(big.t())  # not contiguous
    values = torch.randn(100, 100)
    before = values.clone()
    advise_huge_pages(values)
    assert torch.equal(values, before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_no_advice_for_cuda_tensors() -> None:
    assert not advise_huge_pages(torch.empty(4 * HUGE_PAGE_BYTES // 4, device="cuda"))
