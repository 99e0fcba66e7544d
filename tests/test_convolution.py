import pytest
import torch

from afno_tutorial.lessons.convolution import (
    circular_conv2d,
    conv_flops,
    crossover_kernel_size,
    fft_conv2d,
    kernel_spectrum,
    time_convolutions,
    without_onednn,
)


def _by_definition(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """sum_m k[m] x[n - m] with a centred kernel and periodic indices, written out with rolls."""
    ky, kx = k.shape
    y = torch.zeros_like(x)
    for a in range(-(ky // 2), ky // 2 + 1):
        for b in range(-(kx // 2), kx // 2 + 1):
            y += k[a + ky // 2, b + kx // 2] * torch.roll(x, (a, b), (-2, -1))
    return y


@pytest.mark.parametrize("shape,kshape", [((12, 10), (3, 5)), ((2, 9, 16), (7, 1)), ((8, 8), (1, 1))])
def test_direct_and_fft_match_the_definition(shape, kshape):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(*shape, generator=gen, dtype=torch.float64)
    k = torch.randn(*kshape, generator=gen, dtype=torch.float64)
    ref = _by_definition(x, k)
    torch.testing.assert_close(circular_conv2d(x, k), ref)
    torch.testing.assert_close(fft_conv2d(x, k), ref)


def test_global_kernel_is_a_product_of_spectra():
    # A kernel as large as the grid is a "global" filter: the product of spectra, bin by bin.
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(9, 9, generator=gen, dtype=torch.float64)
    k = torch.randn(9, 9, generator=gen, dtype=torch.float64)
    spec = torch.fft.rfft2(fft_conv2d(x, k))
    torch.testing.assert_close(spec, torch.fft.rfft2(x) * kernel_spectrum(k, (9, 9)))


def test_delta_kernel_is_identity():
    x = torch.rand(3, 8, 8)
    k = torch.zeros(3, 3)
    k[1, 1] = 1
    torch.testing.assert_close(fft_conv2d(x, k), x, atol=1e-6, rtol=0)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="kernel: expected odd"):
        circular_conv2d(torch.rand(8, 8), torch.rand(2, 3))
    with pytest.raises(ValueError, match="image:"):
        fft_conv2d(torch.rand(1, 1, 8, 8), torch.rand(3, 3))
    with pytest.raises(ValueError, match="larger than the image"):
        fft_conv2d(torch.rand(4, 4), torch.rand(5, 5))


def test_timings_shape_and_crossover():
    t = time_convolutions(torch.rand(16, 16), [1, 3], repeats=1)
    assert t["kernel_size"] == [1.0, 3.0] and len(t["direct"]) == 2 and all(v > 0 for v in t["fft"])
    made_up = {"kernel_size": [1, 3, 5, 7], "direct": [1, 5, 2, 9], "fft": [3, 3, 3, 3]}
    assert crossover_kernel_size(made_up) == 7
    assert crossover_kernel_size({"kernel_size": [1], "direct": [1], "fft": [2]}) is None


def test_flop_counts_grow_as_expected():
    small, big = conv_flops((64, 64), 3), conv_flops((64, 64), 31)
    assert big["direct"] / small["direct"] == pytest.approx((31 / 3) ** 2)
    assert big["fft"] == small["fft"]


@pytest.mark.parametrize("size", [1, 3, 5])
def test_both_cpu_convolution_back_ends_compute_the_same_thing(size):
    # time_convolutions keeps the faster of oneDNN and ATen's own kernel: they must agree for that to be fair.
    image, kernel = torch.rand(2, 12, 10), torch.rand(size, size)
    with_onednn = circular_conv2d(image, kernel)
    with without_onednn():
        assert not torch.backends.mkldnn.enabled
        without = circular_conv2d(image, kernel)
    assert torch.backends.mkldnn.enabled
    torch.testing.assert_close(with_onednn, without)
    torch.testing.assert_close(without, fft_conv2d(image, kernel), rtol=1e-4, atol=1e-4)
