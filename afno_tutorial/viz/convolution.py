"""Figures for the convolution theorem: the two routes side by side, and their cost as the kernel grows."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..lessons.convolution import circular_conv2d, conv_flops, crossover_kernel_size, fft_conv2d
from .panels import show_image


def plot_convolution_theorem(image: torch.Tensor, kernel: torch.Tensor) -> Figure:
    """Image, kernel, direct circular convolution, FFT convolution, and their difference (``image: (H, W)``)."""
    direct = circular_conv2d(image, kernel)
    via_fft = fft_conv2d(image, kernel)
    diff = (direct - via_fft).abs()
    fig, axes = plt.subplots(1, 5, figsize=(18, 3.4))
    low, high = float(direct.min()), float(direct.max())  # one scale for both routes
    show_image(axes[0], image, "pixel value", title="image")
    show_image(axes[1], kernel, "kernel weight", cmap="RdBu_r", symmetric=True, title=f"kernel {tuple(kernel.shape)}")
    show_image(axes[2], direct, "output value", vmin=low, vmax=high, title="direct circular conv2d")
    show_image(axes[3], via_fft, "output value", vmin=low, vmax=high, title="irfft2(rfft2(x) * rfft2(k))")
    show_image(axes[4], diff, "|difference|", cmap="inferno", title=f"|difference|, max {float(diff.max()):.1e}")
    fig.tight_layout()
    return fig


def plot_convolution_timing(
    timings: dict[str, list[float]], image_size: tuple[int, int], device_name: str
) -> Figure:
    """Measured seconds of both routes against kernel size (log-log), with the idealised flop counts beside.

    ``timings`` from :func:`afno_tutorial.lessons.convolution.time_convolutions`.
    """
    sizes = timings["kernel_size"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 3.8))
    ax0.loglog(sizes, [t * 1e3 for t in timings["direct"]], "o-", label="direct (conv2d, circular pad)")
    ax0.loglog(sizes, [t * 1e3 for t in timings["fft"]], "s-", label="FFT (rfft2, product, irfft2)")
    cross = crossover_kernel_size(timings)
    if cross is not None:
        ax0.axvline(cross, color="gray", ls=":", label=f"FFT faster from K = {cross:g}")
    else:
        ax0.plot([], [], " ", label="no crossover in the measured range")
    ax0.set_xlabel("kernel side K")
    ax0.set_ylabel("milliseconds (best of repeats)")
    ax0.set_title(f"measured, {image_size[0]}x{image_size[1]} image, {device_name}", fontsize=10)
    ax0.legend(fontsize=8)
    ax0.grid(alpha=0.3, which="both")
    flops = [conv_flops(image_size, int(k)) for k in sizes]
    ax1.loglog(sizes, [f["direct"] for f in flops], "o-", label=r"direct: $2HWK^2$")
    ax1.loglog(sizes, [f["fft"] for f in flops], "s-", label=r"FFT: $\approx 7.5\,HW\log_2(HW)$")
    ax1.set_xlabel("kernel side K")
    ax1.set_ylabel("flops (idealised)")
    ax1.set_title("operation counts", fontsize=10)
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig
