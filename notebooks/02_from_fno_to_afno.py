# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · From FNO to AFNO, one change at a time
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/afno-tutorial/afno-tutorial/blob/main/notebooks/02_from_fno_to_afno.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/afno-tutorial/afno-tutorial/main?urlpath=lab/tree/notebooks/02_from_fno_to_afno.ipynb)
#
# AFNO (Guibas et al., ICLR 2022) is FNO's spectral convolution with four changes. This notebook climbs a ladder
# of six mixers, adding one change per rung, and measures every rung the same way.
#
# **You will learn**
# - the equation of each rung, from FNO's per-mode weights to AFNO's shared MLP with shrinkage and truncation;
# - why sharing one linear weight across modes gives **no learned spatial mixing** (a 1x1 map plus a fixed
#   Hilbert-type transform), and what the "adaptive" MLP adds;
# - what each change costs or saves: parameters, FLOPs, forward time and peak memory at $64\times64$ tokens;
# - how each rung does on masked-patch inpainting, the paper's pretraining task, with identical depth, width and
#   training.
#
# **Prerequisites:** notebook 01 (the `rfft2` layout and kept sets), PyTorch `nn.Module`s.

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline
import torch
from IPython.display import Markdown, display

from afno_tutorial import config
from afno_tutorial.data import make_pretraining_images
from afno_tutorial.lessons.ladder import ladder_markdown, ladder_rungs, nonadaptive_decomposition, run_ladder
from afno_tutorial.viz.ladder import plot_ladder, plot_nonadaptive_demo

FAST = config.fast_mode()
config.seed_everything(0)
DEVICE = config.device()
# The same backbone and training for every rung; FAST is the tiny CI setting.
SETTING = (dict(img_size=32, patch_size=4, dim=16, depth=1, steps=10, n_train=32, n_test=16, grid=(16, 16))
           if FAST else
           dict(img_size=64, patch_size=4, dim=64, depth=4, steps=1200, n_train=1000, n_test=128, grid=(64, 64)))
print("fast mode" if FAST else "full setting", SETTING, "| device:", config.describe_device(DEVICE))

# %% [markdown]
# ## The rungs
#
# All mixers map token features $x\in\mathbb R^{H\times W\times d}$ to the same shape. Write
# $z_{\mathbf k} = \mathcal F(x)_{\mathbf k}\in\mathbb C^d$ for the `rfft2` coefficient of bin $\mathbf k$ and
# $\mathcal K$ for the kept set. Each rung changes one thing:
#
# | rung | per-bin map $z_{\mathbf k}\mapsto\tilde z_{\mathbf k}$ | mixer params |
# |---|---|---|
# | 1 FNO | $R_{\mathbf k} z_{\mathbf k}$, a dense $R_{\mathbf k}\in\mathbb C^{d\times d}$ per bin | $2\lvert\mathcal K\rvert d^2$ |
# | 2 block-diagonal | $R_{\mathbf k} = \mathrm{diag}(R_{\mathbf k,1},\dots,R_{\mathbf k,k})$, blocks $\frac dk\times\frac dk$ | $2\lvert\mathcal K\rvert d^2/k$ |
# | 3 shared linear | $W z_{\mathbf k}$, **one** block-diagonal $W$ for every bin | $2d^2/k$ |
# | 4 shared MLP | $W_2\,\sigma(W_1 z_{\mathbf k} + b_1) + b_2$, $\sigma$ = ReLU on real and imaginary parts | $4d^2/k + 4d$ |
# | 5 + shrinkage | $S_\lambda\big(W_2\,\sigma(W_1 z_{\mathbf k} + b_1) + b_2\big)$, $S_\lambda(u) = \mathrm{sign}(u)\max(\lvert u\rvert-\lambda, 0)$ | same |
# | 6 + truncation | rung 5 on $\mathbf k\in\mathcal K_f$ (a fraction $f$ of the modes per axis), 0 elsewhere | same |
#
# FNO's output is $\mathcal F^{-1}(\tilde z)$ (the block adds it to its input); AFNO's is
# $x + \mathcal F^{-1}(\tilde z)$. Rungs 1-5 keep **every** mode the grid holds (a per-mode weight cannot hold
# the $k_y=-H/2$ Nyquist row), so that each rung changes exactly one thing; rung 6 is the first to truncate.
# FNO in practice truncates hard because its parameter count grows with $\lvert\mathcal K\rvert$: that is
# exactly what AFNO's weight sharing removes.

# %%
rungs = ladder_rungs(num_blocks=8 if not FAST else 4, fraction=0.5, sparsity_threshold=0.01)
for rung in rungs:
    print(f"rung {rung.number}: {rung.name:30s} {rung.mixer}({rung.mixer_kwargs(SETTING['grid'])})")

# %% [markdown]
# ## Rung 3 does no learned spatial mixing
#
# With one complex weight $W = A + iB$ for all bins ($A, B$ real, block-diagonal) and nothing nonlinear,
# linearity of the FFT gives
#
# $$ \mathcal F^{-1}\big(W \mathcal F(x)\big) = x A + (\mathcal H x) B,\qquad
#    \mathcal H x = \mathcal F^{-1}\big(i\,\mathcal F(x)\big). $$
#
# $xA$ is a $1\times1$ convolution (a channel map applied to each token alone). $\mathcal H$ multiplies every
# bin by $i$: a 90° phase shift of every $k_x>0$ wave, a Hilbert-type transform along $x$. Its spatial kernel is
# fixed (below, left): the only thing rung 3 learns is how much of $\mathcal H x$ each output channel takes.
# The identity is checked numerically on a random rung-3 mixer (right, and asserted).

# %%
mixer3 = rungs[2].build_mixer(SETTING["dim"], SETTING["grid"]).double()
x = torch.randn(2, 16, 16, SETTING["dim"], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
parts = nonadaptive_decomposition(mixer3, x)
assert torch.allclose(parts["mixer"], parts["pointwise"], atol=1e-10)
plot_nonadaptive_demo(parts, size=16);

# %% [markdown]
# Everything AFNO learns about *where* to look therefore comes from what rungs 4-6 add: the ReLU (and biases)
# make the per-bin map depend on the coefficient itself, so the effective filter adapts to the content of the
# input (hence "adaptive"); the shrinkage zeroes small coefficients, which depends on the input too; the
# truncation removes fine scales. Notebook 03 draws the resulting mixing patterns.
#
# ## The ladder, measured
#
# Every rung gets the same backbone (patch embedding, depth, width, channel MLPs) and the same training:
# masked-patch inpainting of the library's procedural textured images (half of the patches hidden, loss on the
# hidden pixels), AdamW with warm-up and cosine decay, the same seed and batches. Quality is the PSNR on the
# hidden pixels of held-out images. Costs are for **one mixer** on a $64\times64$ token grid (batch 1):
# parameters, FLOPs from `afno_tutorial.flops.mixer_flops`, the best forward time of a few runs and the peak
# memory of the tensors the forward creates (inference, `torch.no_grad`).

# %%
train_images = make_pretraining_images(SETTING["n_train"], SETTING["img_size"], seed=0)
test_images = make_pretraining_images(SETTING["n_test"], SETTING["img_size"], seed=1)  # held out
rows = run_ladder(rungs, train_images, test_images, dim=SETTING["dim"], depth=SETTING["depth"],
                  patch_size=SETTING["patch_size"], steps=SETTING["steps"], batch_size=16, lr=2e-3,
                  measure_grid=SETTING["grid"], seed=0, device=DEVICE)
display(Markdown(ladder_markdown(rows, SETTING["grid"])))

# %%
plot_ladder(rows, SETTING["grid"]);

# %% [markdown]
# The library's FLOP counts are theoretical; PyTorch's `FlopCounterMode` sees only the matrix products, and
# counts a complex multiply-add as 2 FLOPs (8 in real arithmetic). So for every rung 4x its count must equal
# the library's "mixing" part; the FFT part (which it does not count) follows the $5N\log_2N$ rule.

# %%
for r in rows:
    print(f"rung {r['number']}: mixing {r['mixing_flops'] / 1e6:9.2f} MFLOP = 4 x FlopCounterMode "
          f"{r['counter_flops'] / 1e6:8.2f} | FFT {r['fft_flops'] / 1e6:6.2f} MFLOP")
    assert r["mixing_flops"] == 4 * r["counter_flops"]

# %% [markdown]
# ## What each change buys
#
# The printout below reads the table rung by rung (all numbers from the runs above).

# %%
by = {r["number"]: r for r in rows}
def ratio(a, b, key): return by[a][key] / by[b][key]
print(f"1->2 block-diagonal: mixer params / {ratio(1, 2, 'params'):.0f}, PSNR {by[2]['psnr'] - by[1]['psnr']:+.2f} dB")
print(f"2->3 share one weight: mixer params / {ratio(2, 3, 'params'):.0f}, PSNR {by[3]['psnr'] - by[2]['psnr']:+.2f} dB")
print(f"3->4 adaptive MLP: FLOPs x {ratio(4, 3, 'flops'):.2f}, PSNR {by[4]['psnr'] - by[3]['psnr']:+.2f} dB")
print(f"4->5 soft-thresholding: PSNR {by[5]['psnr'] - by[4]['psnr']:+.2f} dB")
print(f"5->6 hard truncation: FLOPs x {ratio(6, 5, 'flops'):.2f}, forward time x {ratio(6, 5, 'forward_ms'):.2f}, "
      f"PSNR {by[6]['psnr'] - by[5]['psnr']:+.2f} dB")
print(f"FNO (1) vs AFNO (6): mixer params / {ratio(1, 6, 'params'):.0f}, peak memory / {ratio(1, 6, 'peak_mb'):.1f}, "
      f"PSNR {by[6]['psnr'] - by[1]['psnr']:+.2f} dB  [{rows[0]['device']}]")

# %% [markdown]
# How to read it:
#
# - **Rungs 1→3** are about parameters. FNO's per-mode weights cost $2\lvert\mathcal K\rvert d^2$: at $64\times64$
#   tokens with every mode kept that is millions of parameters for one mixer, and the weight tensor (copied to
#   complex on each forward) dominates the peak memory. Block-diagonal weights divide it by $k$, sharing one
#   weight across modes removes the $\lvert\mathcal K\rvert$ factor: AFNO's parameter count does not depend on
#   the resolution at all.
# - **Rung 3** has almost no spatial expressiveness (the identity above); the adaptive MLP of **rung 4** gives it
#   back at twice the mixing FLOPs and a few thousand parameters.
# - **Rungs 5-6** are about sparsity and cost: shrinkage zeroes small coefficients (notebook 03 measures how
#   many), truncation removes whole modes, cutting the FFT along $k_y$ and the MLP work.
# - FNO's per-mode weights (rung 1) can fit this small task well: they have thousands of times more
#   parameters. The question AFNO answers is how much of that quality is kept once the parameters no longer grow
#   with the number of modes, and what the adaptive MLP recovers of what weight sharing loses.
# - The PSNR differences come from one seed and a short CPU training run; differences of a few tenths of a dB
#   are within run-to-run noise (exercise 3). The paper's ablation (its Table 6) ranks the changes at ImageNet
#   scale.
#
# ## Exercises
#
# 1. Using `afno_tutorial.flops.mixer_flops`, compare rung 1 and rung 6 at $128\times128$ tokens. Which part
#    (FFT or mixing) dominates each?
#
# <details><summary>Solution</summary>
#
# ```python
# from afno_tutorial.flops import mixer_flops
# for r in (rungs[0], rungs[5]):
#     print(r.name, mixer_flops(r.build_mixer(64, (128, 128)), (128, 128)))
# ```
# FNO with every mode kept has $\sim 8\,HW/2\cdot d^2$ mixing FLOPs, which dominates its FFT
# ($\sim 5d\,HW\log_2 HW$); AFNO's MLP costs $16\,|\mathcal K_f|\,d^2/k$, comparable to its FFT.
# </details>
#
# 2. Build `rungs[3].build_mixer(64, (16, 16))` (the adaptive MLP, no shrinkage) and show that
#    `nonadaptive_decomposition` refuses it. Then check that it is not linear: compare `m(2*x)` with `2*m(x)`.
#
# <details><summary>Solution</summary>
#
# `nonadaptive_decomposition` raises `ValueError` (it needs `mlp_layers=1`). The two tensors differ: the ReLU
# acts on the real and imaginary parts separately and the biases shift them, so doubling the input does not
# double the output. That dependence on the input's own coefficients is the "adaptive" part.
# </details>
#
# 3. Rerun `run_ladder` for rungs 4 and 5 with `seed=1`. How much does the PSNR of a rung move between seeds,
#    compared to the differences between rungs?
#
# <details><summary>Solution</summary>
#
# ```python
# rows1 = run_ladder([rungs[3], rungs[4]], train_images, test_images, dim=SETTING["dim"],
#                    depth=SETTING["depth"], patch_size=SETTING["patch_size"], steps=SETTING["steps"],
#                    measure_grid=SETTING["grid"], seed=1)
# ```
# Compare `rows1[i]["psnr"]` with the rows above: a difference between rungs is meaningful only when it is
# larger than the change between seeds of the same rung.
# </details>
