# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Global convolution in the Fourier domain
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/afno-tutorial/afno-tutorial/blob/main/notebooks/01_fourier_global_convolution.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/afno-tutorial/afno-tutorial/main?urlpath=lab/tree/notebooks/01_fourier_global_convolution.ipynb)
#
# AFNO, FNO and GFNet all mix tokens the same way at heart: a **global convolution**, done as a product in the
# Fourier domain. This notebook builds that idea from scratch on a real image, then writes GFNet's mixer in five
# lines.
#
# **You will learn**
# - the convolution theorem on a periodic grid: you write the FFT global convolution yourself and check it against
#   a direct circular `conv2d`;
# - why a *global* kernel is only affordable through the FFT (measured cost against direct convolution);
# - how `torch.fft.rfft2` lays out frequencies: both signs of $k_y$, half of $k_x$, Nyquist, Hermitian symmetry,
#   and what `norm="ortho"` / `"forward"` change;
# - GFNet's global filter, written as a module and checked against the library's `GlobalFilter2d`: a depthwise
#   global convolution with one learned complex number per frequency and channel;
# - what "keep the lowest modes" means, why two public reference implementations keep the wrong ones, and why
#   their bugs are silent at the default setting;
# - how much of an image survives truncation to $m$ modes (with a slider).
#
# **Prerequisites:** Python, PyTorch tensors and `nn.Module`, the idea of a convolution. No Fourier analysis
# assumed. Takes about a minute to run on a laptop CPU.

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline
import torch
from torch import nn
from torch.testing import assert_close

from afno_tutorial import GlobalFilter2d, config, spectral
from afno_tutorial.lessons.convolution import circular_conv2d, crossover_kernel_size, fft_conv2d, time_convolutions
from afno_tutorial.lessons.images import load_image
from afno_tutorial.lessons.resolution import norm_scaling
from afno_tutorial.lessons.truncation import truncation_curve
from afno_tutorial.viz import convolution as vconv
from afno_tutorial.viz import spectra, widgets

FAST = config.fast_mode()
config.seed_everything(0)
SIZE = 64 if FAST else 256  # image side in pixels
print("fast mode" if FAST else "full setting", "| device:", config.describe_device("cpu"))

# %% [markdown]
# ## 1. The convolution theorem on a periodic grid
#
# Treat an $H\times W$ image $x$ as periodic. Its circular convolution with a kernel $k$ is
#
# $$ (k \circledast x)[n] = \sum_{m} k[m]\, x[(n - m) \bmod (H, W)]. $$
#
# The 2-D discrete Fourier transform $\mathcal F$ turns it into a product, bin by bin:
#
# $$ \mathcal F(k \circledast x)[\mathbf k] = \mathcal F(k)[\mathbf k]\;\mathcal F(x)[\mathbf k]
#    \quad\Longrightarrow\quad k \circledast x = \mathcal F^{-1}\big(\mathcal F(k)\,\mathcal F(x)\big). $$
#
# So a convolution with a kernel as large as the image (a **global** convolution) is three lines: FFT, multiply,
# inverse FFT. The kernel must live on the same $H\times W$ grid, with its centre at index $(0, 0)$ (its left and
# upper halves wrap around to the end of the array):

# %%
def global_conv(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Circular convolution of x (H, W) with k (H, W), k's centre at index (0, 0)."""
    X = torch.fft.rfft2(x)                     # (H, W//2 + 1) complex
    K = torch.fft.rfft2(k)
    return torch.fft.irfft2(X * K, s=x.shape)  # (H, W) real


def on_grid(kernel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A small odd-sized kernel placed on an (H, W) grid with its centre at (0, 0)."""
    full = kernel.new_zeros(size)
    full[: kernel.shape[0], : kernel.shape[1]] = kernel
    return torch.roll(full, (-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), dims=(0, 1))


# %% [markdown]
# Below, a random $15\times15$ kernel is applied to the `camera` image from scikit-image (CC0) both ways: with
# `global_conv`, and with the library's direct circular convolution (`conv2d` on a wrap-around padded image). They
# agree to float32 rounding, and so does the library's own FFT route (`fft_conv2d`).

# %%
image = load_image("camera", SIZE)  # (H, W) in [0, 1]
kernel = torch.randn(15, 15, generator=torch.Generator().manual_seed(0)) / 15
direct = circular_conv2d(image, kernel)
ours = global_conv(image, on_grid(kernel, image.shape))
assert_close(ours, direct, atol=1e-4, rtol=1e-4)
assert_close(ours, fft_conv2d(image, kernel), atol=1e-5, rtol=1e-5)
max_diff = (direct - ours).abs().max().item()
print(f"max |direct - FFT| = {max_diff:.2e}  (float32 rounding; the output's values are up to "
      f"{direct.abs().max():.2f})")
vconv.plot_convolution_theorem(image, kernel);

# %% [markdown]
# ### What does it cost?
#
# Direct convolution with a $K\times K$ kernel costs $2HWK^2$ flops; the FFT route costs
# $O(HW\log HW)$ whatever $K$ is. The measurement below times both on this machine as $K$ grows (best of several
# runs; the kernel sizes stop at the image side, where the direct route is a full global convolution). On a CPU
# the direct time is the faster of PyTorch's two convolution back ends: oneDNN is quick for large kernels but
# takes milliseconds for a single-channel 1x1 one, where ATen's own kernel needs microseconds.

# %%
kernel_sizes = [1, 3, 5, 9, 17, 33] if FAST else [1, 3, 5, 7, 9, 15, 21, 31, 63, 127, 255]
timings = time_convolutions(image, kernel_sizes, repeats=3 if FAST else 7)
device_name = config.describe_device("cpu")
for k, d, f in zip(timings["kernel_size"], timings["direct"], timings["fft"]):
    print(f"K={int(k):3d}: direct {d * 1e3:8.3f} ms   FFT {f * 1e3:6.3f} ms")
cross = crossover_kernel_size(timings)
k_big = int(timings["kernel_size"][-1])
fft_ms = sorted(t * 1e3 for t in timings["fft"])
print(f"{SIZE}x{SIZE} image on {device_name}: "
      + (f"FFT route faster from K = {int(cross)} on" if cross is not None else "no crossover in the measured range"))
print(f"at K = {k_big}: direct {timings['direct'][-1] * 1e3:.2f} ms, FFT {timings['fft'][-1] * 1e3:.3f} ms "
      f"({timings['direct'][-1] / timings['fft'][-1]:.0f}x); FFT over all K: median {fft_ms[len(fft_ms) // 2]:.3f} ms, "
      f"from {fft_ms[0]:.3f} to {fft_ms[-1]:.3f} ms")
vconv.plot_convolution_timing(timings, (SIZE, SIZE), device_name);

# %% [markdown]
# The FFT route does the same work for every $K$, so its time does not grow with $K$ (any spread between its
# smallest and largest time above is the noise of a shared machine); the kernel's size does not matter once it
# lives in the Fourier domain. That is the whole reason FNO, GFNet and AFNO mix tokens in the Fourier domain: a
# global receptive field at $O(N\log N)$ for $N$ tokens, where self-attention costs $O(N^2)$.
#
# ## 2. The `rfft2` layout
#
# A real image has a Hermitian spectrum, $X[-\mathbf k] = \overline{X[\mathbf k]}$, so half of it is redundant.
# `torch.fft.rfft2` stores only $k_x \ge 0$: an $H\times(W/2+1)$ array. Along the **row** axis both signs are
# stored: row $r$ holds $k_y = r$ for $r < H/2$ and $k_y = r - H$ from $r = H/2$ on, so **low $|k_y|$ sit at both
# ends of the array**, not in its middle. For even sizes the Nyquist frequencies are their own conjugate twins;
# this tutorial labels them as the array stores them: the Nyquist row $k_y = -H/2$ (what `torch.fft.fftfreq`
# says) and the Nyquist column $k_x = +W/2$ (the last column of `rfft2`).

# %%
spectra.plot_rfft2_layout(8, 8);

# %% [markdown]
# A natural image puts almost all its energy at low $|\mathbf k|$. In the plots of this tutorial $k_y$ always
# increases upwards (the stored rows are reordered), so the low frequencies are the band around $k_y = 0$ on
# the left.

# %%
spectra.plot_log_spectrum(image, "camera");

# %% [markdown]
# ### What `norm=` changes
#
# `norm` only decides where the factor $1/(HW)$ goes: `"backward"` (default) puts it on the inverse,
# `"forward"` on the forward transform, `"ortho"` splits it as $1/\sqrt{HW}$ on each side (a unitary
# transform). It matters once the coefficients are compared **across resolutions**: sample the same function
# on finer grids and the same frequency's coefficient grows as $N^2$, as $N$, or stays put. AFNO uses
# `"ortho"`, so its threshold $\lambda$ and biases act on numbers that scale with the grid (notebook 03).

# %%
sizes = [8, 16, 32] if FAST else [8, 16, 32, 64, 128, 256]
table = norm_scaling(sizes, frequency=(1, 2))
for n, b, o, f in zip(table["size"], table["backward"], table["ortho"], table["forward"]):
    print(f"N={int(n):4d}  backward {b:10.1f}   ortho {o:7.2f}   forward {f:.3f}")
spectra.plot_norm_scaling(table);

# %% [markdown]
# ## 3. A global filter: GFNet's token mixer
#
# GFNet (Rao et al., NeurIPS 2021) mixes a grid of tokens $x \in \mathbb R^{H\times W\times C}$ with one learned
# complex number $K_{\mathbf k, c}$ per frequency bin and channel:
#
# $$ y_{:,:,c} = \mathcal F^{-1}\big(K_{:,:,c} \odot \mathcal F(x_{:,:,c})\big). $$
#
# By the convolution theorem that is a **depthwise global convolution**: channel $c$ is convolved with the real
# kernel $k_c = \mathcal F^{-1}(K_{:,:,c})$, which spans the whole grid. Written as a module (the parameter is
# stored as real and imaginary parts, as in GFNet and the library):

# %%
class GlobalFilter(nn.Module):
    """GFNet's mixer: (B, H, W, C) -> (B, H, W, C), one complex weight per rfft2 bin and channel."""

    def __init__(self, dim: int, size: tuple[int, int]):
        super().__init__()
        h, w = size
        self.complex_weight = nn.Parameter(0.02 * torch.randn(h, w // 2 + 1, dim, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")   # (B, H, W//2 + 1, C) complex
        z = z * torch.view_as_complex(self.complex_weight)  # the same filter for every image
        return torch.fft.irfft2(z, s=x.shape[1:3], dim=(1, 2), norm="ortho")


# %% [markdown]
# With the same weights it computes what the library's `GlobalFilter2d` computes, and each channel is the global
# convolution of section 1 with that channel's kernel $k_c$ (with `norm="ortho"` on both transforms the two
# factors $1/\sqrt{HW}$ make the plain inverse's $1/(HW)$, so $k_c$ is the plain `irfft2` of $K_{:,:,c}$):

# %%
grid = (16, 16)
library_gfn = GlobalFilter2d(8, size=grid)
ours_gfn = GlobalFilter(8, grid)
ours_gfn.load_state_dict(library_gfn.state_dict())
tokens = torch.randn(2, *grid, 8, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    y = ours_gfn(tokens)
    assert_close(y, library_gfn(tokens))
    k0 = torch.fft.irfft2(torch.view_as_complex(ours_gfn.complex_weight)[..., 0], s=grid)  # channel 0's kernel
    assert_close(y[0, ..., 0], global_conv(tokens[0, ..., 0], k0), atol=1e-6, rtol=1e-5)
centre = torch.roll(k0, (1, 1), dims=(0, 1))[:3, :3]  # the 3x3 neighbourhood of the kernel's centre (0, 0)
outside = 1 - centre.pow(2).sum() / k0.pow(2).sum()
print(f"GlobalFilter == GlobalFilter2d and == per-channel global_conv; {100 * outside:.0f}% of channel 0's "
      f"kernel energy lies outside its 3x3 centre: a random filter is a global kernel")

# %% [markdown]
# GFN learns $H(W/2+1)C$ complex numbers: the filter is tied to the grid it was built for (the library resizes
# it for other grids). FNO (notebook 02) replaces the number per channel by a $C\times C$ matrix per frequency and
# keeps only low frequencies; AFNO shares one small MLP across all frequencies.
#
# ## 4. Keeping the lowest modes, and two ways to get it wrong
#
# Spectral mixers often keep only a **kept set** of low frequencies and zero the rest (FNO's `modes`, AFNO's
# `hard_thresholding_fraction`). With $m_y, m_x$ modes the right set is
#
# $$ \mathcal K = \{\,|k_y| < m_y\ (\text{both signs}),\ 0 \le k_x < m_x\,\}, $$
#
# i.e. rows $0..m_y-1$ **and** the last $m_y-1$ rows of the `rfft2` array, each axis counted from its own size.
# Two public reference implementations slice differently
# (`afno_tutorial.spectral.reference_kept_mask` reproduces both):
#
# - **NVlabs AFNO-transformer** computes `kept = int((H*W//2 + 1) * fraction)` and slices it on the $k_x$ axis
#   only; since $HW/2$ is about $H$ times the number of columns, any fraction above about $1/H$ keeps
#   *everything*;
# - **FourCastNet / physicsnemo** slice rows `[H//2+1-kept : H//2+1+kept]` of the *un-shifted* array: the rows
#   around $H/2$, which are the **highest** $|k_y|$.
#
# The bottom row sends the image through each mask.

# %%
fraction = 0.25
spectra.plot_kept_sets(SIZE, SIZE, fraction, image);

# %% [markdown]
# **When do the bugs bite?** Count the bins each implementation keeps, and whether it is the right set, for a few
# fractions on this $H = W =$ `SIZE` grid:

# %%
implementations = ("afno_tutorial", "nvlabs", "fourcastnet")
total_bins = SIZE * (SIZE // 2 + 1)
for f in (1.0, 0.5, 0.25, 0.1, 2 / SIZE):
    right = spectral.reference_kept_mask(SIZE, SIZE, f, "afno_tutorial")
    masks = {impl: spectral.reference_kept_mask(SIZE, SIZE, f, impl) for impl in implementations}
    print(f"fraction {f:5.3f}: " + ", ".join(
        f"{impl} {int(m.sum()):6d} bins ({'right set' if torch.equal(m, right) else 'WRONG set'})"
        for impl, m in masks.items()))
nvlabs_all_from = (SIZE // 2 + 1) / (SIZE * SIZE // 2 + 1)
print(f"of {total_bins} bins; NVlabs keeps every column for any fraction >= {nvlabs_all_from:.4f} "
      f"(= (W//2+1) / (H*W//2+1), about 1/H)")

# %% [markdown]
# At the **default `hard_thresholding_fraction = 1`** all three keep every bin, so both bugs are silent: a model
# trained with the reference code and no truncation is unaffected. They bite as soon as a fraction below 1 is
# used: the NVlabs slice then still keeps everything (the truncation silently does nothing, so it saves no
# compute), and the FourCastNet slice keeps the wrong rows (the model loses its smooth content and keeps fine
# texture instead).
#
# ## 5. How much of an image lives in the lowest $m$ modes?
#
# Move the slider to keep the lowest $m$ modes per axis (the widget redraws the reconstruction, its error and
# the kept bins). A static version follows for readers of the rendered notebook, then the error curve.

# %%
widgets.truncation_widget(image, modes=8)

# %%
spectra.plot_lowpass(image, 16 if not FAST else 8);

# %%
mode_counts = [m for m in (1, 2, 4, 8, 16, 32, 64, 129) if m <= spectral.max_modes(SIZE, SIZE)[0]]
curve = truncation_curve(image, mode_counts)
for m, e, f in zip(curve["modes"], curve["error"], curve["kept_fraction"]):
    print(f"m={int(m):3d}: {100 * f:6.2f}% of the bins kept, relative error {e:.3f}")
spectra.plot_truncation_curve(curve);

# %% [markdown]
# A small share of the bins carries most of the image; the rest is edges and texture. A token mixer that keeps
# few modes is cheap and smooth, but it cannot pass fine detail through its spectral path: in AFNO that detail
# travels through the residual connection and the channel MLP instead.
#
# ## What you learned
#
# The numbers below are this run's:

# %%
m_mid = 16 if 16 in curve["modes"] else curve["modes"][len(curve["modes"]) // 2]
i_mid = curve["modes"].index(m_mid)
print(f"- FFT convolution = direct circular convolution, to {max_diff:.1e} (float32) on a {SIZE}x{SIZE} image;")
print(f"- a {k_big}x{k_big} kernel: direct {timings['direct'][-1] * 1e3:.1f} ms, FFT {timings['fft'][-1] * 1e3:.2f} ms "
      f"({timings['direct'][-1] / timings['fft'][-1]:.0f}x faster); "
      + (f"the FFT route wins from K = {int(cross)}" if cross is not None else "no crossover in the measured range"))
print(f"- rfft2 of an HxW image: H x (W//2 + 1) = {SIZE} x {SIZE // 2 + 1} bins; the negative k_y in the lower half")
print(f"- GFN = a depthwise global convolution: {8 * grid[0] * (grid[1] // 2 + 1)} complex weights for 8 channels "
      f"on a {grid[0]}x{grid[1]} grid, checked against GlobalFilter2d")
print(f"- at fraction {fraction}: right set {int(spectral.reference_kept_mask(SIZE, SIZE, fraction, 'afno_tutorial').sum())} "
      f"bins, NVlabs {int(spectral.reference_kept_mask(SIZE, SIZE, fraction, 'nvlabs').sum())} (everything), "
      f"FourCastNet {int(spectral.reference_kept_mask(SIZE, SIZE, fraction, 'fourcastnet').sum())} (highest |k_y|); "
      f"at fraction 1 all keep all {total_bins}")
print(f"- the lowest m = {int(m_mid)} modes ({100 * curve['kept_fraction'][i_mid]:.1f}% of the bins) rebuild the "
      f"image to a relative error of {curve['error'][i_mid]:.3f}")

# %% [markdown]
# ## Exercises
#
# 1. Convolve `image` with a $3\times3$ box blur through `global_conv(image, on_grid(k, image.shape))` and through
#    `circular_conv2d`, then through `global_conv` with the kernel placed at the top-left corner of the grid
#    instead (`k_corner = torch.zeros(image.shape); k_corner[:3, :3] = k`). How do the results differ, and why?
#
# <details><summary>Solution</summary>
#
# ```python
# k = torch.ones(3, 3) / 9
# k_corner = torch.zeros(image.shape); k_corner[:3, :3] = k
# a, b, c = global_conv(image, on_grid(k, image.shape)), circular_conv2d(image, k), global_conv(image, k_corner)
# print((a - b).abs().max(), (torch.roll(a, (1, 1), (0, 1)) - c).abs().max())   # both ~1e-7
# ```
# The first two agree to rounding. The third is the same blur **shifted by one pixel** down and right: placing
# the kernel at indices $0..2$ puts its centre at $(1,1)$ instead of $(0,0)$, and a shift in space is a phase
# factor $e^{-2\pi i (k_y + k_x)/N}$ in the spectrum. `on_grid` rolls the kernel so its centre sits at the origin.
# </details>
#
# 2. For $H = W = 64$, how many `rfft2` bins does `spectral.kept_mode_mask(64, 64, (8, 8))` keep, and how many
#    does `spectral.reference_kept_mask(64, 64, 0.05, "nvlabs")` keep?
#
# <details><summary>Solution</summary>
#
# ```python
# int(spectral.kept_mode_mask(64, 64, (8, 8)).sum()), int(spectral.reference_kept_mask(64, 64, 0.05, "nvlabs").sum())
# ```
# $(2\cdot8-1)\cdot 8 = 120$ bins. The NVlabs slice keeps `int((64*64//2+1)*0.05) = 102` columns, more than the
# 33 that exist, so all $64 \cdot 33 = 2112$ bins: the truncation does nothing.
# </details>
#
# 3. Sample `resolution.sample_function(n)` for $n = 32$ and $64$. Which `norm` makes
#    `rfft2(f)[1, 2]` equal at both sizes, and what value does it take?
#
# <details><summary>Solution</summary>
#
# ```python
# from afno_tutorial.lessons.resolution import sample_function
# for n in (32, 64):
#     print(n, {norm: torch.fft.rfft2(sample_function(n), norm=norm)[1, 2].abs().item() for norm in ("ortho", "forward")})
# ```
# `norm="forward"`: it divides by $HW$, giving the Fourier-series coefficient, $0.5$ (half the cosine's
# amplitude) at every resolution. `"ortho"` gives $0.5\,n$ (16 and 32).
# </details>
#
# 4. Give `GlobalFilter` a filter that is 1 at every bin (`ours_gfn.complex_weight.data[..., 0] = 1`,
#    `[..., 1] = 0`). What does it compute? And with $e^{-2\pi i\,k_x/W}$ at bin $(k_y, k_x)$?
#
# <details><summary>Solution</summary>
#
# ```python
# ky, kx = spectral.frequency_grid(*grid)
# phase = torch.exp(-2j * torch.pi * kx / grid[1])[..., None].expand(-1, -1, 8)
# ours_gfn.complex_weight.data = torch.view_as_real(phase.to(torch.complex64)).contiguous()
# with torch.no_grad():
#     print((ours_gfn(tokens) - torch.roll(tokens, 1, dims=2)).abs().max())  # ~1e-7
# ```
# All ones is the identity (the kernel is a unit impulse at $(0,0)$). The phase ramp is a circular shift by one
# token along $x$: a global filter can move information anywhere on the grid, with one number per bin.
# </details>
