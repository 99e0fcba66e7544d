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
# Fourier domain. This notebook builds that idea from scratch on a real image.
#
# **You will learn**
# - the convolution theorem on a periodic grid, checked numerically: FFT convolution equals circular `conv2d`;
# - why a *global* kernel is only affordable through the FFT (measured cost against direct convolution);
# - how `torch.fft.rfft2` lays out frequencies: both signs of $k_y$, half of $k_x$, Nyquist, Hermitian symmetry,
#   and what `norm="ortho"` / `"forward"` change;
# - what "keep the lowest modes" means, and why two public reference implementations keep the wrong ones;
# - how much of an image survives truncation to $m$ modes (with a slider).
#
# **Prerequisites:** Python, PyTorch tensors, the idea of a convolution. No Fourier analysis assumed.

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline
import torch

from afno_tutorial import config, spectral
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
# $$ \mathcal F(k \circledast x)[\mathbf k] = \mathcal F(k)[\mathbf k]\;\mathcal F(x)[\mathbf k]. $$
#
# So a convolution with a kernel as large as the image (a **global** convolution) is just: FFT, multiply,
# inverse FFT. Below, a random $15\times15$ kernel is applied to the `camera` image from scikit-image (CC0) both
# ways, and the notebook asserts they agree.

# %%
image = load_image("camera", SIZE)  # (H, W) in [0, 1]
kernel = torch.randn(15, 15, generator=torch.Generator().manual_seed(0)) / 15
direct, via_fft = circular_conv2d(image, kernel), fft_conv2d(image, kernel)
max_diff = (direct - via_fft).abs().max().item()
assert torch.allclose(direct, via_fft, atol=1e-4), max_diff
print(f"max |direct - FFT| = {max_diff:.2e}  (float32 rounding; values are O({direct.abs().max():.0f}))")
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
print(f"{SIZE}x{SIZE} image on {device_name}: FFT route faster from K = {cross}")
print(f"at K = {k_big}: direct {timings['direct'][-1]*1e3:.2f} ms, FFT {timings['fft'][-1]*1e3:.3f} ms "
      f"({timings['direct'][-1] / timings['fft'][-1]:.0f}x)")
vconv.plot_convolution_timing(timings, (SIZE, SIZE), device_name);

# %% [markdown]
# The FFT time is flat in $K$: the kernel's size does not matter once it lives in the Fourier domain. That is the
# whole reason FNO, GFNet and AFNO mix tokens in the Fourier domain: a global receptive field at
# $O(N\log N)$ for $N$ tokens, where self-attention costs $O(N^2)$.
#
# ## 2. The `rfft2` layout
#
# A real image has a Hermitian spectrum, $X[-\mathbf k] = \overline{X[\mathbf k]}$, so half of it is redundant.
# `torch.fft.rfft2` stores only $k_x \ge 0$: an $H\times(W/2+1)$ array. Along the **row** axis both signs are
# stored: row $r$ holds $k_y = r$ for $r < H/2$ and $k_y = r - H$ above, so **low $|k_y|$ sit at both ends of
# the array**, not in its middle. For even sizes the Nyquist frequencies $k_y = H/2$ and $k_x = W/2$ are their
# own conjugate twins.

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
# ## 3. Keeping the lowest modes, and two ways to get it wrong
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
# ## 4. How much of an image lives in the lowest $m$ modes?
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
# A few percent of the bins carry most of the image; the rest is edges and texture. A token mixer that keeps
# few modes is cheap and smooth, but it cannot pass fine detail through its spectral path: in AFNO that detail
# travels through the residual connection and the channel MLP instead.
#
# ## Exercises
#
# 1. Convolve `image` with a $3\times3$ box blur through `fft_conv2d` and through `circular_conv2d`, then with a
#    $3\times3$ kernel through `torch.fft.irfft2(torch.fft.rfft2(image) * torch.fft.rfft2(k, s=image.shape))`
#    (the kernel placed at the top-left corner, not centred). How do the results differ, and why?
#
# <details><summary>Solution</summary>
#
# The first two agree to rounding. The third is the same blur **shifted by one pixel** down and right: placing
# the kernel at indices $0..2$ puts its centre at $(1,1)$ instead of $(0,0)$, and a shift in space is a phase
# factor $e^{-2\pi i (k_y + k_x)/N}$ in the spectrum. `kernel_spectrum` rolls the kernel so its centre sits at
# the origin.
# </details>
#
# 2. For $H = W = 64$, how many `rfft2` bins does `spectral.kept_mode_mask(64, 64, (8, 8))` keep, and how many
#    does `spectral.reference_kept_mask(64, 64, 0.05, "nvlabs")` keep?
#
# <details><summary>Solution</summary>
#
# $(2\cdot8-1)\cdot 8 = 120$ bins. The NVlabs slice keeps `int((64*64//2+1)*0.05) = 102` columns, more than the
# 33 that exist, so all $64 \cdot 33 = 2112$ bins: the truncation does nothing.
# </details>
#
# 3. Sample `resolution.sample_function(n)` for $n = 32$ and $64$. Which `norm` makes
#    `rfft2(f)[1, 2]` equal at both sizes, and what value does it take?
#
# <details><summary>Solution</summary>
#
# `norm="forward"`: it divides by $HW$, giving the Fourier-series coefficient, $0.5$ (half the cosine's
# amplitude) at every resolution. `"ortho"` gives $0.5\,n$ (16 and 32).
# </details>
