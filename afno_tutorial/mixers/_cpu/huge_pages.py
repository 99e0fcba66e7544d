"""Transparent huge pages for large, freshly allocated CPU tensors (Linux).

A fresh 64 MiB tensor from the C allocator is fresh memory from the kernel: its first write page-faults once per
4 KiB page, 16,384 faults, which on a 2-core x86 VM cost more than the write itself (the ``copy`` baseline of
:mod:`afno_tutorial.bench` takes about ten times longer than with the heap kept; ``benchmarks/README.md``). Where
the kernel's transparent huge pages are in ``madvise`` mode (the default of many distributions), asking for them
on the tensor's range before the first write turns those faults into 32 faults of 2 MiB each. Huge pages also
cut TLB misses for accesses scattered over the whole tensor, as the transforms over ``H`` make (rows ``W C``
numbers apart).

PyTorch can do this for every large allocation (environment variable ``THP_MEM_ALLOC_ENABLE=1``); this module
does it for the tensors a caller chooses, without changing the process's allocator. It is advice: where it does
not apply (another OS, huge pages off, a small tensor, a CUDA tensor) nothing happens and the tensor works the
same.
"""

from __future__ import annotations

import ctypes
import functools
import sys

import torch

HUGE_PAGE_BYTES = 2 << 20
_MADV_HUGEPAGE = 14  # <linux/mman.h>
_THP_MODE_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"


@functools.lru_cache(maxsize=1)
def _madvise():  # type: ignore[no-untyped-def]
    """libc's ``madvise`` where transparent huge pages can be asked for, else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open(_THP_MODE_FILE) as f:
            mode = f.read()
    except OSError:
        return None
    if "[never]" in mode:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def huge_pages_available() -> bool:
    """Whether :func:`advise_huge_pages` can take effect here (Linux with transparent huge pages not ``never``)."""
    return _madvise() is not None


def advise_huge_pages(tensor: torch.Tensor) -> bool:
    """Ask the kernel to back ``tensor``'s memory with 2 MiB pages; call it before the tensor is first written.

    Args:
        tensor: a contiguous CPU tensor, typically just made by ``torch.empty``.

    Returns:
        ``True`` if the advice was given for at least one whole huge page of the tensor's memory (the 2 MiB-aligned
        part of its range); ``False`` where it does not apply, which leaves the tensor as it is.
    """
    madvise = _madvise()
    if madvise is None or tensor.device.type != "cpu" or not tensor.is_contiguous():
        return False
    start = tensor.data_ptr()
    end = start + tensor.numel() * tensor.element_size()
    first = -(-start // HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES  # round up to a huge-page boundary
    last = end // HUGE_PAGE_BYTES * HUGE_PAGE_BYTES
    if last <= first:
        return False
    return madvise(first, last - first, _MADV_HUGEPAGE) == 0
