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
# # 02 · From FNO to AFNO, one change at a time
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/afno-tutorial/afno-tutorial/blob/main/notebooks/02_from_fno_to_afno.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/afno-tutorial/afno-tutorial/main?urlpath=lab/tree/notebooks/02_from_fno_to_afno.ipynb)
#
# AFNO (Guibas et al., ICLR 2022) starts from FNO's spectral convolution and changes it in a few steps. This
# notebook climbs a ladder of six mixers, FNO at the bottom and AFNO at the top, each rung changing exactly one
# thing. You write every rung yourself in a few lines, check it against the library, then train and measure all
# of them the same way, with several seeds.
#
# **You will learn**
# - the equation and the code of each rung, from FNO's per-mode matrices to AFNO's shared MLP with
#   soft-thresholding, the last rung being exactly `afno_tutorial.AFNO2d`;
# - why one shared *linear* weight learns **no spatial mixing** at all (a 1x1 map plus fixed transforms), and
#   what the "adaptive" MLP adds;
# - what each change costs or saves (parameters, FLOPs, time, memory) at the grid the models train on and at a
#   large grid;
# - what each change does to quality on masked-patch inpainting, the paper's pretraining task, as mean ± std over
#   seeds, and which changes stand out from the seed-to-seed noise at this scale.
#
# **Prerequisites:** notebook 01 (the `rfft2` layout, kept sets, GFN's filter), PyTorch `nn.Module`s and
# `torch.einsum`. The default setting trains 18 small models and takes about ten minutes on a 2-core CPU.

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display
from torch import nn
from torch.testing import assert_close

from afno_tutorial import AFNO2d, config
from afno_tutorial.data import make_pretraining_images
from afno_tutorial.lessons.ladder import (
    describe_steps,
    ladder_markdown,
    ladder_rungs,
    nonadaptive_decomposition,
    run_ladder,
    rung_steps,
)
from afno_tutorial.viz.ladder import plot_ladder, plot_nonadaptive_demo

FAST = config.fast_mode()
config.seed_everything(0)
DEVICE = config.device()
# The same backbone and training for every rung; FAST is the tiny CI setting.
SETTING = (dict(img_size=32, patch_size=4, dim=16, depth=1, steps=10, n_train=32, n_test=16, seeds=(0, 1),
                grids=((8, 8), (32, 32)))
           if FAST else
           dict(img_size=64, patch_size=4, dim=64, depth=2, steps=600, n_train=1000, n_test=128, seeds=(0, 1, 2),
                grids=((16, 16), (128, 128))))
DIM, K, MODES = SETTING["dim"], 8, (4, 4)  # channels, diagonal blocks, FNO's kept modes |k_y| < 4, k_x < 4
GRID = SETTING["grids"][0]  # the token grid the models train on
print("fast mode" if FAST else "full setting", SETTING, "| device:", config.describe_device(DEVICE))

# %% [markdown]
# ## The rungs
#
# All mixers map token features $x\in\mathbb R^{H\times W\times d}$ to the same shape and return the mixed tokens
# only (the block adds $x$). Write $z_{\mathbf k} = \mathcal F(x)_{\mathbf k}\in\mathbb C^d$ for the `rfft2`
# coefficient of bin $\mathbf k$, $\mathcal K$ for FNO's kept set ($|k_y| < 4$, $k_x < 4$) and $k$ for the number
# of diagonal blocks. Each rung changes one thing:
#
# | rung | per-bin map $z_{\mathbf k}\mapsto\tilde z_{\mathbf k}$ | bins | the change | mixer params |
# |---|---|---|---|---|
# | 1 FNO | $R_{\mathbf k} z_{\mathbf k}$, a dense $R_{\mathbf k}\in\mathbb C^{d\times d}$ per bin | $\mathcal K$ | (FNO, with its own truncation) | $2\lvert\mathcal K\rvert d^2$ |
# | 2 | $R_{\mathbf k} = \mathrm{diag}(R_{\mathbf k,1},\dots,R_{\mathbf k,k})$, blocks $\frac dk\times\frac dk$ | $\mathcal K$ | block-diagonal weights | $2\lvert\mathcal K\rvert d^2/k$ |
# | 3 | $W z_{\mathbf k}$, **one** block-diagonal $W$ for every bin | $\mathcal K$ | one weight shared by all modes | $2d^2/k$ |
# | 4 | $W z_{\mathbf k}$ | **all** | keep every mode | $2d^2/k$ |
# | 5 | $W_2\,\sigma(W_1 z_{\mathbf k} + b_1) + b_2$, $\sigma$ = ReLU on real and imaginary parts | all | a two-layer MLP (adaptive) | $4d^2/k + 4d$ |
# | 6 AFNO | $S_\lambda\big(W_2\,\sigma(W_1 z_{\mathbf k} + b_1) + b_2\big)$, $S_\lambda(u) = \mathrm{sign}(u)\max(\lvert u\rvert-\lambda, 0)$ | all | soft-thresholding, $\lambda = 0.01$ | $4d^2/k + 4d$ |
#
# The output is $\mathcal F^{-1}(\tilde z)$ with every other bin zero. Rung 4 keeps every mode because it can:
# FNO truncates since its parameters grow with $\lvert\mathcal K\rvert$, and after rung 3 they no longer do. Two
# things that are not changes: every rung's spectral weights start as AFNO's do ($0.02\cdot\mathcal N(0,1)$ for
# real and imaginary parts; the library's `SpectralConv2d` alone would start norm-preserving), and the FFT
# normalisation, which FNO (`"forward"`) and AFNO (`"ortho"`) choose differently, does not change what a *linear*
# rung computes (its two factors cancel).
#
# ### Written out
#
# Every rung reads the kept bins of `rfft2`, maps each bin, and writes them back. The two helpers do the reading
# and writing (rows $|k_y| < m_y$ sit at both ends of the `rfft2` array, notebook 01):

# %%
def kept_rows(height: int, m_y: int) -> list[int]:
    """Rows of rfft2 with |k_y| < m_y in rfft2 order: k_y = 0..m_y-1, then -(m_y-1)..-1."""
    return list(range(m_y)) + list(range(max(m_y, height - m_y + 1), height))


def to_bins(x: torch.Tensor, modes: tuple[int, int], norm: str) -> torch.Tensor:
    """(B, H, W, C) real -> (B, R, m_x, C) complex: the rfft2 bins of the kept set."""
    return torch.fft.rfft2(x, dim=(1, 2), norm=norm)[:, kept_rows(x.shape[1], modes[0]), : modes[1]]


def from_bins(z: torch.Tensor, size: tuple[int, int], modes: tuple[int, int], norm: str) -> torch.Tensor:
    """(B, R, m_x, C) complex -> (B, H, W, C) real: those bins in place, every other bin zero."""
    full = z.new_zeros(z.shape[0], size[0], size[1] // 2 + 1, z.shape[-1])
    full[:, kept_rows(size[0], modes[0]), : modes[1]] = z
    return torch.fft.irfft2(full, s=size, dim=(1, 2), norm=norm)


def every_mode(height: int, width: int) -> tuple[int, int]:
    return height // 2 + 1, width // 2 + 1


# %% [markdown]
# **Rungs 1 and 2, FNO:** $\tilde z_{\mathbf k} = R_{\mathbf k} z_{\mathbf k}$ for $\mathbf k \in \mathcal K$, one
# complex matrix per kept bin; with `num_blocks` $= k > 1$ each $R_{\mathbf k}$ is block-diagonal.

# %%
class FNO(nn.Module):
    def __init__(self, dim: int, modes: tuple[int, int], num_blocks: int = 1):
        super().__init__()
        self.modes, self.k, b = modes, num_blocks, dim // num_blocks
        rows = 2 * modes[0] - 1  # |k_y| < m_y on both signs
        self.weight = nn.Parameter(0.02 * torch.randn(num_blocks, rows, modes[1], b, b, 2))  # (re, im) last

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C) -> (B, H, W, C)
        z = to_bins(x, self.modes, "forward").unflatten(-1, (self.k, -1))  # (B, R, m_x, k, b): channel blocks
        z = torch.einsum("brmkj,krmjo->brmko", z, torch.view_as_complex(self.weight))  # R_k z_k, bin by bin
        return from_bins(z.flatten(-2), x.shape[1:3], self.modes, "forward")


# %% [markdown]
# **Rungs 3 and 4, one shared weight:** $\tilde z_{\mathbf k} = W z_{\mathbf k}$ with the same block-diagonal
# $W = A + iB$ for every bin; `modes=None` keeps every mode (rung 4). The weight is stored as real and imaginary
# parts, in the layout of the reference implementation.

# %%
class SharedLinear(nn.Module):
    def __init__(self, dim: int, num_blocks: int = 8, modes: tuple[int, int] | None = None):
        super().__init__()
        self.modes, self.k, b = modes, num_blocks, dim // num_blocks
        self.w1 = nn.Parameter(0.02 * torch.randn(2, num_blocks, b, b))  # (re, im), one (b x b) per block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        modes = self.modes or every_mode(*x.shape[1:3])
        z = to_bins(x, modes, "ortho").unflatten(-1, (self.k, -1))  # (B, R, m_x, k, b)
        z = torch.einsum("...kj,kjo->...ko", z, torch.complex(self.w1[0], self.w1[1]))  # the same W for all bins
        return from_bins(z.flatten(-2), x.shape[1:3], modes, "ortho")


# %% [markdown]
# **Rungs 5 and 6, AFNO:** for every bin and block $j$,
# $\tilde z_{\mathbf k j} = S_\lambda\big(W_{2j}\,\sigma(W_{1j} z_{\mathbf k j} + b_{1j}) + b_{2j}\big)$ with
# $\sigma$ the ReLU and $S_\lambda$ the soft-shrink, each applied to the real and imaginary parts separately
# ($\lambda = 0$ is rung 5). These fifteen lines are the whole AFNO mixer of the paper:

# %%
class AFNO(nn.Module):
    def __init__(self, dim: int, num_blocks: int = 8, sparsity_threshold: float = 0.01):
        super().__init__()
        self.k, self.lam, b = num_blocks, sparsity_threshold, dim // num_blocks
        self.w1, self.w2 = (nn.Parameter(0.02 * torch.randn(2, num_blocks, b, b)) for _ in range(2))
        self.b1, self.b2 = (nn.Parameter(0.02 * torch.randn(2, num_blocks, b)) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = lambda p: torch.complex(p[0], p[1])  # noqa: E731  (re, im) -> complex
        modes = every_mode(*x.shape[1:3])
        z = to_bins(x, modes, "ortho").unflatten(-1, (self.k, -1))  # (B, H, W//2+1, k, b)
        h = torch.einsum("...kj,kjo->...ko", z, c(self.w1)) + c(self.b1)
        h = torch.complex(F.relu(h.real), F.relu(h.imag))  # ReLU on both parts
        z = torch.einsum("...kj,kjo->...ko", h, c(self.w2)) + c(self.b2)
        z = torch.complex(F.softshrink(z.real, self.lam), F.softshrink(z.imag, self.lam))  # S_lambda
        return from_bins(z.flatten(-2), x.shape[1:3], modes, "ortho")


# %% [markdown]
# Each rung against the library's module with the same weights (float64, so any difference above rounding would
# show). The library builds the rungs from its mixer registry (`afno_tutorial.lessons.ladder.ladder_rungs`), and
# rung 6 is `afno_tutorial.AFNO2d` with its default settings:

# %%
rungs = ladder_rungs(num_blocks=K, modes=MODES, sparsity_threshold=0.01)
ours = [FNO(DIM, MODES), FNO(DIM, MODES, K), SharedLinear(DIM, K, MODES), SharedLinear(DIM, K), AFNO(DIM, K, 0.0),
        AFNO(DIM, K, 0.01)]
x = torch.randn(2, *GRID, DIM, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
for rung, mine in zip(rungs, ours):
    library = rung.build_mixer(DIM, GRID).double()
    mine.double().load_state_dict(library.state_dict())
    with torch.no_grad():
        assert_close(mine(x), library(x))
    print(f"rung {rung.number} ({rung.change}): {type(mine).__name__} == {type(library).__name__}"
          f"({', '.join(f'{k}={v}' for k, v in rung.kwargs.items())})")
assert type(library) is AFNO2d and library.extra_repr() == AFNO2d(DIM).extra_repr()

# %% [markdown]
# ## A shared linear weight does no learned spatial mixing
#
# With one complex weight $W = A + iB$ for all bins ($A, B$ real, block-diagonal) and nothing nonlinear,
# linearity of the FFT gives, for rung 4 (every mode kept),
#
# $$ \mathcal F^{-1}\big(W \mathcal F(x)\big) = x A + (\mathcal H x) B,\qquad
#    \mathcal H x = \mathcal F^{-1}\big(i\,\mathcal F(x)\big). $$
#
# $xA$ is a $1\times1$ convolution (a channel map applied to each token alone). $\mathcal H$ multiplies every
# bin by $i$: a 90° phase shift of every $k_x>0$ wave, a Hilbert-type transform along $x$. Its spatial kernel is
# fixed (below, left): the only thing the rung learns is how much of $\mathcal H x$ each output channel takes. For
# rung 3 the same holds with $x$ replaced by $P x$, its projection onto the kept modes, which is fixed too. The
# identity is checked numerically on random rung-4 and rung-3 mixers (right, and asserted).

# %%
xs = torch.randn(2, 16, 16, DIM, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
for rung in rungs[2:4]:
    parts = nonadaptive_decomposition(rung.build_mixer(DIM, (16, 16)).double(), xs)
    assert_close(parts["mixer"], parts["pointwise"], atol=1e-10, rtol=1e-10)
    print(f"rung {rung.number}: max |mixer(x) - ((Px)A + (HPx)B)| = "
          f"{(parts['mixer'] - parts['pointwise']).abs().max():.1e}")
plot_nonadaptive_demo(parts, size=16);

# %% [markdown]
# Everything AFNO learns about *where* to look therefore comes from what rungs 5 and 6 add: the ReLU and the
# biases make the per-bin map depend on the coefficient itself, so the effective filter adapts to the content of
# the input (hence "adaptive"); the soft-threshold zeroes small coefficients, which depends on the input too.
# Notebook 03 draws the resulting mixing patterns.
#
# ## The ladder, measured
#
# Every rung gets the same backbone (patch embedding, depth, width, channel MLPs) and the same training:
# masked-patch inpainting of the library's procedural textured images (half of the patches hidden, loss on the
# hidden pixels), AdamW with warm-up and cosine decay. Each rung is trained once per seed; a seed fixes the
# initialisation and the batches, so under one seed every rung sees the same data in the same order, and the
# difference between two rungs can be read seed by seed (paired). Quality is the PSNR on the hidden pixels of
# held-out images (the same hidden patches for every run). Costs are for **one mixer**, batch 1, at the grid the
# models train on and at a large grid for scale: parameters, FLOPs from `afno_tutorial.flops.mixer_flops`, the
# best forward time of a few runs and the peak memory of the tensors the forward creates (inference,
# `torch.no_grad`).

# %%
train_images = make_pretraining_images(SETTING["n_train"], SETTING["img_size"], seed=0)
test_images = make_pretraining_images(SETTING["n_test"], SETTING["img_size"], seed=1)  # held out
rows = run_ladder(rungs, train_images, test_images, dim=DIM, depth=SETTING["depth"],
                  patch_size=SETTING["patch_size"], steps=SETTING["steps"], batch_size=16, lr=2e-3,
                  seeds=SETTING["seeds"], measure_grids=SETTING["grids"], device=DEVICE)
display(Markdown(ladder_markdown(rows)))

# %%
plot_ladder(rows);

# %% [markdown]
# ### How large is the noise?
#
# The same rung trained with another seed lands somewhere else. Its spread over the seeds, and the spread of the
# paired difference between neighbouring rungs, set the scale below which a difference means nothing here:

# %%
steps = rung_steps(rows)
for r in rows:
    print(f"rung {r['number']}: PSNR " + ", ".join(f"{p:.2f}" for p in r["psnr"])
          + f" dB over seeds {r['seeds']}: mean {r['psnr_mean']:.2f}, std {r['psnr_std']:.2f}")
noise = sum(r["psnr_std"] for r in rows) / len(rows)
paired = sum(s["std"] for s in steps) / len(steps)
print(f"seed-to-seed std of one rung, averaged over rungs: {noise:.2f} dB; "
      f"std of a paired difference between neighbouring rungs: {paired:.2f} dB")

# %% [markdown]
# The library's FLOP counts are theoretical; PyTorch's `FlopCounterMode` sees only the matrix products, and
# counts a complex multiply-add as 2 FLOPs (8 in real arithmetic). So for every rung 4x its count must equal
# the library's "mixing" part; the FFT part (which it does not count) follows the $5N\log_2N$ rule.

# %%
for r in rows:
    c = r["costs"][GRID]
    print(f"rung {r['number']}: mixing {c['mixing_flops'] / 1e6:8.3f} MFLOP = 4 x FlopCounterMode "
          f"{c['counter_flops'] / 1e6:8.3f} | FFT {c['fft_flops'] / 1e6:6.3f} MFLOP at {GRID[0]}x{GRID[1]}")
    assert c["mixing_flops"] == 4 * c["counter_flops"]

# %% [markdown]
# ## What each change buys
#
# Each line compares a rung with the one below it (all numbers from the runs above; "measurable" means that the
# paired PSNR change has the same sign for every seed and is more than twice its standard error):

# %%
display(Markdown(describe_steps(rows)))

# %% [markdown]
# How to read it:
#
# - **Rungs 1→3 are about parameters.** FNO's per-mode matrices cost $2\lvert\mathcal K\rvert d^2$; block-diagonal
#   weights divide that by $k$, and sharing one weight across modes removes the $\lvert\mathcal K\rvert$ factor.
#   FLOPs, time and memory hardly move at the large grid: there the FFTs dominate, and FNO's few kept modes cost
#   little. What sharing costs in quality, if anything, is in the PSNR line of rung 3.
# - **Rung 4 is about coverage.** With one shared weight, keeping every mode costs no parameter, only the
#   per-bin work on more bins; the kept set no longer has to shrink as the grid grows. Whether the extra modes help
#   inpainting at this grid is in its PSNR line.
# - **Rung 3 and 4 learn no spatial mixing** (the identity above): all of it comes from the fixed transforms.
#   Rung 5's MLP makes the map depend on the input, at about twice the mixing FLOPs and parameters of rung 4.
#   Whether that pays off within a short training is another matter: its output is the product of two small
#   initial weights, so it starts near zero and grows slowly; its PSNR line says what it bought here.
# - **Rung 6's soft-thresholding** zeroes small output coefficients (notebook 03 counts them). It changes no
#   parameter and almost no FLOP; on this task its effect on quality is read in its PSNR line against the noise.
# - A change that is "not measurable" here may still matter at the paper's scale (ImageNet, its Table 6): this
#   experiment can only resolve differences larger than the seed-to-seed spread printed above.
#
# ## What you learned

# %%
first, last = rows[0], rows[-1]
big = SETTING["grids"][-1]
print(f"- the six rungs, written in a few lines each, match the library's mixers; rung 6 is AFNO2d({DIM})")
print(f"- one mixer, FNO (rung 1) -> AFNO (rung 6): parameters {first['costs'][GRID]['params']:,.0f} -> "
      f"{last['costs'][GRID]['params']:,.0f}; at {big[0]}x{big[1]} tokens GFLOPs "
      f"{first['costs'][big]['flops'] / 1e9:.3f} -> {last['costs'][big]['flops'] / 1e9:.3f}, forward "
      f"{first['costs'][big]['forward_ms']:.2f} -> {last['costs'][big]['forward_ms']:.2f} ms")
print(f"- test PSNR, mean ± std over {len(first['psnr'])} seeds: "
      + ", ".join(f"rung {r['number']} {r['psnr_mean']:.2f} ± {r['psnr_std']:.2f}" for r in rows))
print(f"- seed-to-seed noise: {noise:.2f} dB per rung; changes that stand out from it: "
      + (", ".join(f"rung {s['number']} ({s['mean']:+.2f} dB)" for s in steps if s["measurable"]) or "none"))
print("- a shared linear weight is a 1x1 map plus fixed transforms: the spatial mixing AFNO learns comes from "
      "its MLP's nonlinearity, biases and threshold")

# %% [markdown]
# ## Exercises
#
# 1. Using `afno_tutorial.flops.mixer_flops`, compare rung 1 and rung 6 at $512\times512$ tokens. Which part
#    (FFT or mixing) dominates each, and why is FNO's mixing so small there?
#
# <details><summary>Solution</summary>
#
# ```python
# from afno_tutorial.flops import mixer_flops
# for r in (rungs[0], rungs[5]):
#     print(r.name, mixer_flops(r.build_mixer(DIM, (512, 512)), (512, 512)))
# ```
# FNO's mixing works on its $\lvert\mathcal K\rvert = 7 \cdot 4 = 28$ kept bins whatever the grid
# ($8\lvert\mathcal K\rvert d^2$ FLOPs), so its FFTs ($\sim 5d\,HW\log_2 HW$) dominate. AFNO's MLP works on all
# $H(W/2+1)$ bins: $16\,H(W/2+1)\,d^2/k$ FLOPs, the same order as its FFTs.
# </details>
#
# 2. Build rung 5 (`rungs[4].build_mixer(DIM, (16, 16))`) and show that `nonadaptive_decomposition` refuses it.
#    Then check that it is not linear: compare `m(2 * x)` with `2 * m(x)`.
#
# <details><summary>Solution</summary>
#
# ```python
# m = rungs[4].build_mixer(DIM, (16, 16))
# x1 = torch.randn(1, 16, 16, DIM)
# print((m(2 * x1) - 2 * m(x1)).abs().max())   # clearly non-zero
# ```
# `nonadaptive_decomposition` raises `ValueError` (it needs `mlp_layers=1`). The ReLU acts on the real and
# imaginary parts separately and the biases shift them, so doubling the input does not double the output. That
# dependence on the input's own coefficients is the "adaptive" part.
# </details>
#
# 3. AFNO also has a truncation of its own, `hard_thresholding_fraction`. Train rung 6 with
#    `hard_thresholding_fraction=0.5` for the same seeds and compare it with rung 6: does truncation cost quality
#    here, and what does it save at the large grid?
#
# <details><summary>Solution</summary>
#
# ```python
# from afno_tutorial.lessons.ladder import Rung
# half = Rung(7, "AFNO, half the modes", "hard_thresholding_fraction = 0.5", "afno",
#             {"num_blocks": K, "hard_thresholding_fraction": 0.5})
# more = run_ladder([rungs[5], half], train_images, test_images, dim=DIM, depth=SETTING["depth"],
#                   patch_size=SETTING["patch_size"], steps=SETTING["steps"], seeds=SETTING["seeds"],
#                   measure_grids=SETTING["grids"])
# display(Markdown(describe_steps(more)))
# ```
# Half the modes per axis is about a quarter of the bins: the MLP's FLOPs fall to about a quarter, the FFTs much
# less. Whether the PSNR change is measurable, compare with the noise printed above; on this task, which needs
# fine texture, a low-pass spectral path usually loses some quality.
# </details>
#
# 4. How many of the $128\times128$ grid's `rfft2` bins does FNO's kept set hold, and how many parameters would
#    rung 1 need to keep every mode there?
#
# <details><summary>Solution</summary>
#
# ```python
# from afno_tutorial.lessons.ladder import fno_max_modes
# print(7 * 4, "of", 128 * 65, "bins")
# m = fno_max_modes((128, 128))
# print(f"{2 * (2 * m[0] - 1) * m[1] * DIM**2:,} parameters per mixer")
# ```
# 28 of 8,320 bins (0.3%). Every mode FNO can hold, $|k_y| < 64$ and all 65 columns, would need
# $2 \cdot 127 \cdot 65 \cdot 64^2 \approx 68$ million parameters for one mixer: that is why FNO truncates, and
# why sharing (rung 3) is what makes rung 4 possible.
# </details>
