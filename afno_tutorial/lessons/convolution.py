"""Global (circular) convolution two ways: directly in space, and as a product in the Fourier domain.

The convolution theorem on an ``H x W`` periodic grid: ``rfft2(k (*) x) = rfft2(k) * rfft2(x)`` bin by bin, where
``(k (*) x)[n] = sum_m k[m] x[n - m]`` with indices taken modulo the grid. Direct convolution with a ``K x K``
kernel costs ``O(H W K^2)``; the FFT route costs ``O(H W log(H W))`` whatever ``K`` is, which is why a *global*
kernel (``K = H``) is affordable only in the Fourier domain.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from ..checks import check_positive_int


def _check_image_kernel(image: torch.Tensor, kernel: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if not isinstance(image, torch.Tensor) or image.ndim not in (2, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image: expected a (H, W) or (C, H, W) tensor, got {shape}")
    if not isinstance(kernel, torch.Tensor) or kernel.ndim != 2:
        shape = tuple(kernel.shape) if isinstance(kernel, torch.Tensor) else type(kernel).__name__
        raise ValueError(f"kernel: expected a (K_y, K_x) tensor, got {shape}")
    ky, kx = kernel.shape
    if ky % 2 == 0 or kx % 2 == 0:
        raise ValueError(f"kernel: expected odd sizes (centred at its middle pixel), got {tuple(kernel.shape)}")
    height, width = image.shape[-2:]
    if ky > height or kx > width:
        raise ValueError(f"kernel: {tuple(kernel.shape)} is larger than the image grid {(height, width)}")
    squeeze = image.ndim == 2
    return (image[None] if squeeze else image), squeeze


def circular_conv2d(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Direct circular convolution of every channel with one odd-sized kernel centred at its middle pixel.

    Args:
        image: ``(H, W)`` or ``(C, H, W)`` real.
        kernel: ``(K_y, K_x)`` real, odd sizes, ``K <= H, W``.

    Returns:
        Same shape as ``image``: ``y[n] = sum_m kernel[m] image[n - m]`` (indices modulo the grid, ``m`` centred).
    """
    x, squeeze = _check_image_kernel(image, kernel)
    ky, kx = kernel.shape
    # Wrap-around padding makes the grid periodic; conv2d is a correlation, so flip the kernel.
    padded = F.pad(x[:, None], (kx // 2, kx // 2, ky // 2, ky // 2), mode="circular")
    y = F.conv2d(padded, kernel.flip(0, 1)[None, None].to(x.dtype))[:, 0]
    return y[0] if squeeze else y


def kernel_spectrum(kernel: torch.Tensor, size: tuple[int, int], norm: str = "backward") -> torch.Tensor:
    """``rfft2`` of a small centred kernel embedded in an ``(H, W)`` periodic grid.

    The kernel's middle pixel goes to index ``(0, 0)`` (its left/upper half wraps around to the end), so the
    product with ``rfft2(image)`` is exactly :func:`circular_conv2d`. Returns ``(H, W//2 + 1)`` complex.
    """
    height, width = size
    ky, kx = kernel.shape
    full = kernel.new_zeros(height, width)
    full[:ky, :kx] = kernel
    full = torch.roll(full, shifts=(-(ky // 2), -(kx // 2)), dims=(0, 1))
    return torch.fft.rfft2(full, norm=norm)


def fft_conv2d(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The same circular convolution as :func:`circular_conv2d`, computed as a product of spectra.

    Args:
        image: ``(H, W)`` or ``(C, H, W)`` real.
        kernel: ``(K_y, K_x)`` real, odd sizes.

    Returns:
        Same shape as ``image``.
    """
    x, squeeze = _check_image_kernel(image, kernel)
    size = tuple(x.shape[-2:])
    # "backward" norm: forward unscaled, inverse divides by H*W, so no extra factor appears in the product.
    y = torch.fft.irfft2(torch.fft.rfft2(x) * kernel_spectrum(kernel.to(x.dtype), size), s=size)
    return y[0] if squeeze else y


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first calls allocate and plan
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    # The minimum is the least disturbed by other processes on a shared machine.
    return min(times)


def time_convolutions(
    image: torch.Tensor, kernel_sizes: Sequence[int], repeats: int = 5, seed: int = 0
) -> dict[str, list[float]]:
    """Wall-clock seconds of :func:`circular_conv2d` and :func:`fft_conv2d` for square kernels of growing size.

    The direct time on a CPU is the faster of oneDNN's and ATen's convolution (small kernels only for the latter).

    Args:
        image: ``(H, W)`` or ``(C, H, W)``.
        kernel_sizes: odd sizes ``K`` (each ``<= H, W``).
        repeats: timed runs per point; the best is kept.

    Returns:
        ``{"kernel_size": [...], "direct": [...], "fft": [...]}`` (seconds), in the order given.
    """
    check_positive_int(repeats, "repeats")
    gen = torch.Generator().manual_seed(seed)
    # Warm both code paths once (thread pools, FFT plans) so the first measured size is not penalised.
    warm = torch.ones(1, 1, dtype=image.dtype)
    circular_conv2d(image, warm), fft_conv2d(image, warm)
    out: dict[str, list[float]] = {"kernel_size": [], "direct": [], "fft": []}
    for size in kernel_sizes:
        check_positive_int(size, "kernel_sizes")
        kernel = torch.randn(size, size, generator=gen, dtype=image.dtype)
        out["kernel_size"].append(float(size))
        out["direct"].append(_best_direct_time(image, kernel, repeats))
        out["fft"].append(_best_time(lambda: fft_conv2d(image, kernel), repeats))
    return out


# Largest kernel for which ATen's own convolution is also timed: beyond it oneDNN is an order of magnitude faster.
_NATIVE_CONV_MAX_KERNEL = 9


def _best_direct_time(image: torch.Tensor, kernel: torch.Tensor, repeats: int) -> float:
    """The faster of PyTorch's two CPU convolution back ends for this kernel size, as a tuned library would pick.

    oneDNN is slow for tiny single-channel kernels (about 2 ms for a 1x1 kernel on a 256x256 image, where ATen's
    own kernel takes 0.01 ms) and much faster for large ones.
    """
    best = _best_time(lambda: circular_conv2d(image, kernel), repeats)
    small = max(kernel.shape) <= _NATIVE_CONV_MAX_KERNEL
    if image.device.type == "cpu" and torch.backends.mkldnn.is_available() and small:
        with without_onednn():
            best = min(best, _best_time(lambda: circular_conv2d(image, kernel), repeats))
    return best


@contextlib.contextmanager
def without_onednn() -> Iterator[None]:
    """Run CPU convolutions with ATen's own kernels instead of oneDNN inside the block."""
    with warnings.catch_warnings():
        # Switching the back end also re-sets its TF32 flag, which warns about Intel GPUs on every other machine.
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with torch.backends.mkldnn.flags(enabled=False):
            yield


def crossover_kernel_size(timings: dict[str, list[float]]) -> float | None:
    """The smallest measured kernel size from which the FFT route is faster at every larger size (or None)."""
    sizes, direct, fft = timings["kernel_size"], timings["direct"], timings["fft"]
    for i in range(len(sizes)):
        if all(f < d for f, d in zip(fft[i:], direct[i:])):
            return sizes[i]
    return None


def conv_flops(image_size: tuple[int, int], kernel_size: int) -> dict[str, float]:
    """Idealised operation counts per channel: direct ``2 H W K^2``; FFT route ``~ 3 x 2.5 H W log2(H W)`` + product.

    The FFT count uses the usual ``5 N log2 N`` real flops for a complex FFT of ``N`` points, halved for a real
    input, for two forward and one inverse transform, plus 6 flops per complex product of the ``H (W//2+1)`` bins.
    """
    import math

    height, width = image_size
    n = height * width
    direct = 2.0 * n * kernel_size**2
    fft = 3 * 2.5 * n * math.log2(n) + 6.0 * height * (width // 2 + 1)
    return {"direct": direct, "fft": fft}
