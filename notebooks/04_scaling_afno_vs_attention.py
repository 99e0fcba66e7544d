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
# # 04 · Scaling: AFNO against self-attention, GFN and FNO
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/afno-tutorial/afno-tutorial/blob/main/notebooks/04_scaling_afno_vs_attention.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/afno-tutorial/afno-tutorial/main?urlpath=lab/tree/notebooks/04_scaling_afno_vs_attention.ipynb)
#
# The AFNO paper's claim is *quasi-linear time and linear memory* in the number of tokens, where self-attention is
# quadratic. This notebook checks the claim as a lesson about algorithms: each mixer written out in a few lines,
# its operation count, its measured time and memory as the token grid grows, and from how many tokens one beats
# another, on this CPU and on a GPU. Only the last section is about implementation.
#
# **You will learn**
# - every mixer as plain PyTorch (FFT round trip, GFN, FNO, AFNO, attention), checked against the library;
# - to count their FLOPs and see why attention's grow as $N^2$ and the Fourier mixers' as $N\log N$;
# - to read a log-log plot: the fitted slope is the exponent, and where fixed costs hide it;
# - from how many tokens AFNO is faster than attention, and whether it needs less memory, on a 2-core CPU and on
#   an H200 GPU (from committed measurements);
# - how much an optimised implementation adds on top of the algorithm.
#
# **Prerequisites:** notebooks 00–02 (what the mixers compute). The default setting measures on this machine for
# a few minutes; on a GPU pass `device="cuda"` to the benchmark.

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.testing import assert_close

from afno_tutorial import AFNO2d, GlobalFilter2d, SelfAttention2d, SpectralConv2d, bench, describe_device, fast_mode
from afno_tutorial.bench import FFTRoundTrip
from afno_tutorial.flops import mixer_flops
from afno_tutorial.lessons.scaling import crossover, describe_crossover, measured
from afno_tutorial.measure import fit_slope
from afno_tutorial.viz.scaling import plot_flop_curves, plot_scaling

FAST = fast_mode()
DIM = 32 if FAST else 256  # channels C
GRIDS = [8, 16] if FAST else [16, 32, 64, 128, 256]  # H = W, tokens = H * W
print(f"fast mode: {FAST}; device: {describe_device()}; C = {DIM}; grids: {GRIDS}")

# %% [markdown]
# ## 1. The mixers, written plainly
#
# Each mixer maps tokens $x \in \mathbb R^{B\times H\times W\times C}$ to the same shape. With $N = HW$ tokens:
#
# - **FFT round trip** $\mathcal F^{-1}\mathcal F x$: the floor under every Fourier mixer, $O(NC\log N)$;
# - **GFN** $\mathcal F^{-1}(K \odot \mathcal F x)$: one complex weight per bin and channel, $O(NC\log N + NC)$;
# - **FNO** $\mathcal F^{-1}(R_{\mathbf k} \mathcal F(x)_{\mathbf k})$ on a fixed set of $m_y \times m_x$ modes: a
#   $C\times C$ matrix per kept mode, $O(NC\log N + m_y m_x C^2)$;
# - **AFNO** $\mathcal F^{-1}\big(S_\lambda(W_2\sigma(W_1 \mathcal F(x)_{\mathbf k} + b_1) + b_2)\big)$ with
#   block-diagonal $W_1, W_2$ ($k$ blocks) shared by all bins: $O(NC\log N + NC^2/k)$;
# - **self-attention** $\mathrm{softmax}(QK^\top/\sqrt{d})V$ with $Q, K, V$ linear maps of $x$ (several heads of
#   width $d$) and an output projection: $O(NC^2 + N^2C)$.

# %%
def fft_round_trip(x):
    return torch.fft.irfft2(torch.fft.rfft2(x, dim=(1, 2)), s=x.shape[1:3], dim=(1, 2))


def gfn(x, K):  # K: (H, W//2 + 1, C) complex
    z = torch.fft.rfft2(x, dim=(1, 2), norm="ortho") * K
    return torch.fft.irfft2(z, s=x.shape[1:3], dim=(1, 2), norm="ortho")


def fno(x, R, m):  # R: (2m - 1, m, C, C) complex, kept modes |k_y| < m, k_x < m
    H, W = x.shape[1:3]
    rows = list(range(m)) + list(range(H - m + 1, H))
    z = torch.fft.rfft2(x, dim=(1, 2), norm="forward")
    out = torch.zeros_like(z)
    out[:, rows, :m] = torch.einsum("brmi,rmio->brmo", z[:, rows, :m], R)
    return torch.fft.irfft2(out, s=(H, W), dim=(1, 2), norm="forward")


def afno(x, w1, b1, w2, b2, lam=0.01):  # w: (k, b, b) complex, b: (k, b) complex
    z = torch.fft.rfft2(x, dim=(1, 2), norm="ortho").unflatten(-1, (w1.shape[0], -1))  # (B, H, W//2+1, k, b)
    h = torch.einsum("...kj,kjo->...ko", z, w1) + b1
    h = torch.complex(F.relu(h.real), F.relu(h.imag))
    z = torch.einsum("...kj,kjo->...ko", h, w2) + b2
    z = torch.complex(F.softshrink(z.real, lam), F.softshrink(z.imag, lam))
    return torch.fft.irfft2(z.flatten(-2), s=x.shape[1:3], dim=(1, 2), norm="ortho")


def attention(x, w_qkv, b_qkv, w_out, b_out, heads=8):
    B, H, W, C = x.shape
    q, k, v = (x.reshape(B, H * W, C) @ w_qkv.T + b_qkv).reshape(B, H * W, 3, heads, -1).permute(2, 0, 3, 1, 4)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(C // heads), dim=-1)  # (B, heads, N, N): the N^2 part
    return (a @ v).transpose(1, 2).reshape(B, H, W, C) @ w_out.T + b_out


# %% [markdown]
# The same computations as the library's modules, with the library's weights:

# %%
c = lambda p: torch.complex(p[0], p[1])  # noqa: E731  (re, im) -> complex
xs = torch.randn(2, 12, 10, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    assert_close(fft_round_trip(xs), xs)  # the identity, up to rounding
    assert_close(FFTRoundTrip(16)(xs.float()), fft_round_trip(xs.float()))  # the benchmark's floor (float32)
    g = GlobalFilter2d(16, size=(12, 10)).double()
    assert_close(gfn(xs, torch.view_as_complex(g.complex_weight)), g(xs))
    f = SpectralConv2d(16, modes=(4, 4)).double()
    assert_close(fno(xs, torch.view_as_complex(f.weight)[0], 4), f(xs))
    a = AFNO2d(16, num_blocks=4).double()
    assert_close(afno(xs, c(a.w1), c(a.b1), c(a.w2), c(a.b2)), a(xs))
    s = SelfAttention2d(16, num_heads=4).double()
    assert_close(attention(xs, s.qkv.weight, s.qkv.bias, s.proj.weight, s.proj.bias, heads=4), s(xs))
print("round trip, GFN, FNO, AFNO and attention written out == the library's modules")

# %% [markdown]
# ## 2. Counting the work
#
# For $N = HW$ tokens and $C$ channels (forward pass, real FLOPs, a multiply-add counts 2):
#
# | mixer | mixing | FFTs |
# |---|---|---|
# | self-attention | $8NC^2$ (projections) $+ 4N^2C$ ($QK^\top$, $AV$) | – |
# | GFN filter | $6 \cdot N/2 \cdot C$ | $\approx 2 \times 2.5\,NC\log_2 N$ |
# | FNO (fixed modes) | $8 \cdot \text{modes} \cdot C^2$ | $\approx 2 \times 2.5\,NC\log_2 N$ |
# | AFNO | $2 \times 8 \cdot \text{kept bins} \cdot C^2/k$ | $\approx 2 \times 2.5\,NC\log_2 N$ |
#
# `afno_tutorial.flops.mixer_flops` computes these exactly for any mixer and settings (its matrix parts are tested
# against PyTorch's `FlopCounterMode`). The fitted slope of each curve is its exponent in $N$:

# %%
flop_grids = [16, 32, 64, 128, 256, 512]
flop_mixers = {"afno": AFNO2d(DIM), "attention": SelfAttention2d(DIM), "gfn": GlobalFilter2d(DIM, size=(16, 16)),
               "fno": SpectralConv2d(DIM, modes=(8, 8))}
curves = {name: ([g * g for g in flop_grids], [mixer_flops(m, (g, g))["total"] for g in flop_grids])
          for name, m in flop_mixers.items()}
for name, (tokens, flops) in curves.items():
    print(f"{name:9s} slope {fit_slope(tokens, flops):.2f}; GFLOP at {tokens[0]:,} tokens {flops[0] / 1e9:8.3f}, "
          f"at {tokens[-1]:,} {flops[-1] / 1e9:10.1f}")
ratio_small = curves["attention"][1][0] / curves["afno"][1][0]
core = lambda n: 4 * n * n * DIM  # noqa: E731  QK^T and AV alone
print(f"attention / AFNO FLOPs: {ratio_small:.1f}x at {curves['afno'][0][0]:,} tokens, "
      f"{curves['attention'][1][-1] / curves['afno'][1][-1]:,.0f}x at {curves['afno'][0][-1]:,}")
plot_flop_curves(curves);

# %% [markdown]
# Attention costs more FLOPs than AFNO at **every** size here, even the smallest: its four $C\times C$ projections
# alone ($8NC^2$) already match AFNO's two block-diagonal layers on $N/2$ bins ($8NC^2/k$) $k$ times over. From
# there its $4N^2C$ term takes over: each doubling of the number of tokens multiplies it by 4, where AFNO's count
# grows by a little more than 2 (the $\log N$ of its FFTs), which is why the ratio printed above grows about
# linearly with $N$. FLOPs are not time, though: how fast each kind of work runs on a machine decides the rest.
#
# ## 3. Measuring on this machine
#
# `bench.run_benchmark` (also the CLI `python -m afno_tutorial.bench`) times each mixer after a warm-up (median of
# repeated runs, forward under `torch.no_grad`) and measures the peak memory of one call in a **fresh
# subprocess** (peak resident memory minus what was resident before). A configuration whose predicted time or
# memory is over budget is **skipped** and recorded with its estimate, so nothing hangs. AFNO runs here as
# `path="plain"`: the whole-tensor computation of section 1, in PyTorch like the others, so that the comparison is
# one of algorithms (section 6 says what the library's faster CPU path adds).

# %%
AFNO_PLAIN = "afno:path='plain'"
results = bench.run_benchmark([AFNO_PLAIN, "attention", "gfn", "fno", "roundtrip"], GRIDS, dim=DIM, repeats=5,
                              time_budget=10.0, memory=True)
print(bench.format_table(results))

# %%
plot_scaling([{**r, "mixer": "afno"} if r["mixer"] == AFNO_PLAIN else r for r in results]);  # AFNO in its colour

# %% [markdown]
# The legend's slopes are fitted from 4,096 tokens on (at smaller grids fixed per-call costs flatten every
# curve); open markers are skipped configurations, drawn at their estimate. Read off this run:

# %%
time_slopes = bench.slopes(results, "time_s")
memory_slopes = bench.slopes(results, "memory_bytes")
fitted = [n for n in sorted({r["tokens"] for r in results}) if n >= 4096]
if len(fitted) >= 2:  # the slope an N log N cost alone would have over the fitted grids
    print(f"an N log N cost alone gives slope {fit_slope(fitted, [n * math.log2(n) for n in fitted]):.2f} "
          f"over {fitted[0]:,}-{fitted[-1]:,} tokens")
for name in (AFNO_PLAIN, "attention", "gfn", "fno", "roundtrip"):
    key = f"{name} [forward]"
    big = measured(results, name, "forward", "memory_ratio")
    top = max(big) if big else None
    print(f"{name:18s} time slope {time_slopes.get(key, float('nan')):5.2f}, memory slope "
          f"{memory_slopes.get(key, float('nan')):5.2f}"
          + (f", peak memory {big[top]:.1f}x its input at {top:,} tokens" if top else ""))
print("time:  ", describe_crossover(results, AFNO_PLAIN, "attention", ("AFNO", "attention")))
print("memory:", describe_crossover(results, AFNO_PLAIN, "attention", ("AFNO", "attention"), quantity="memory_bytes"))

# %% [markdown]
# How to read these numbers:
#
# - **Time.** Attention's slope sits near 2 once the $N^2$ term dominates. For the Fourier mixers the operation
#   count alone would give the $N\log N$ slope printed first, a little above 1; a fitted slope well above that
#   means the time per operation grew with the grid: the largest tensors no longer fit in the CPU's caches, and
#   the GFLOP/s column of the table falls there. A slope below it means fixed per-call costs still weigh at the
#   small end (FNO's few modes cost little at any size). The crossover line says from how many tokens AFNO is
#   faster than attention here.
# - **Memory.** PyTorch's `scaled_dot_product_attention` on a CPU does not store the $N\times N$ scores: it works
#   through them in blocks (a fused, "flash"-style kernel), so attention's peak memory grows **linearly** with $N$
#   too, a few times the input, like the Fourier mixers'. The quadratic memory of the textbook formula (section 1's
#   `a`, $\text{heads}\cdot N^2$ numbers, 128 GiB at 65,536 tokens and 8 heads in float32) is what the fused kernel
#   avoids. What remains quadratic is the time.
#
# How many tokens fit in a time budget, from the fitted power laws (an extrapolation beyond the measured grids,
# so only as good as the fit):

# %%
for seconds in (0.1, 1.0):
    reach = {m: bench.tokens_for(results, m, seconds) for m in ("attention", AFNO_PLAIN)}
    text = {m: "n/a (grids too small to fit)" if n != n else f"~{n:,.0f} tokens" for m, n in reach.items()}
    print(f"{seconds:>4} s per call: attention up to {text['attention']}, AFNO up to {text[AFNO_PLAIN]}")

# %% [markdown]
# ## 4. On a GPU: what one H200 measured
#
# The same benchmark ran on one NVIDIA H200 (`bash benchmarks/gpu_checks.sh benchmarks`), in float32 and in
# bfloat16 (AFNO's spectral part stays in float32; attention uses the flash kernel), from 256 to 262,144 tokens,
# C = 256. Its results are committed in `benchmarks/`, so no GPU is needed to read them:

# %%
folder = next((d for d in (Path("../benchmarks"), Path("benchmarks")) if (d / "cuda_h200_float32.json").exists()), None)
gpu, gpu_memory = {}, {}
if folder is None:
    print("benchmarks/cuda_h200_*.json ship with the repository, not with the pip package: clone it to see them")
else:
    for dtype in ("float32", "bfloat16"):
        rows = [r for r in bench.load_results(folder / f"cuda_h200_{dtype}.json")
                if r["mixer"] in ("afno", "attention", "gfn", "fno", "roundtrip") and r["mode"] == "forward"]
        gpu[dtype] = rows
        ratio = measured(rows, "afno", "forward", "memory_ratio")
        att = measured(rows, "attention", "forward", "memory_ratio")
        top = max(set(ratio) & set(att))
        gpu_memory[dtype] = (top, ratio[top], att[top])
        print(f"{dtype}: time:   {describe_crossover(rows, 'afno', 'attention', ('AFNO', 'attention'))}")
        print(f"{dtype}: memory: peak at {top:,} tokens: AFNO {ratio[top]:.1f}x its input, attention "
              f"{att[top]:.1f}x")
    plot_scaling(gpu["bfloat16"]);

# %% [markdown]
# What differs from the CPU, read from these lines and the plot:
#
# - **At small grids attention is faster on the GPU.** Its fused kernel runs at a large fraction of the GPU's
#   peak, while AFNO's time there is the host's: a fixed cost of issuing its few dozen PyTorch operators from
#   Python, whatever the size (the flat start of its curve). The printed crossover says up to how many tokens
#   attention wins, in each precision.
# - **At large grids the quadratic term still decides.** Beyond the crossover AFNO's lead grows with $N$, as on
#   the CPU, but from a higher crossover.
# - **Memory is no clear advantage on the GPU.** With the flash kernel attention's peak is a fixed multiple of
#   its input, and so is AFNO's (its spectrum and MLP activations): the two multiples are of the same order, and the
#   printout says which is larger in each precision. In bfloat16 AFNO's spectral part still works in float32, so
#   its intermediates take twice the bytes per number that its input does.
#
# ## 5. Where each wins
#
# One table from the measured rows: this machine's run (section 3), the committed run of this project's 2-core CPU
# (`benchmarks/cpu_2threads.json`, the library's default AFNO) and the H200 runs.

# %%
sources = {"this machine (AFNO plain)": (results, AFNO_PLAIN)}
if folder is not None:
    cpu_rows = [r for r in bench.load_results(folder / "cpu_2threads.json") if r["mode"] == "forward"]
    sources["2-core CPU, committed (AFNO default)"] = (cpu_rows, "afno")
    for dtype, rows in gpu.items():
        sources[f"H200 {dtype}"] = (rows, "afno")
print(f"{'measurements':38s} {'attention faster up to':>22s} {'AFNO faster from':>17s} {'largest grid':>13s} "
      f"{'attention/AFNO time there':>26s}")
for label, (rows, name) in sources.items():
    cross = crossover(rows, name, "attention")
    r = cross["ratios"]
    top = max(r) if r else None
    fmt = lambda n: "-" if n is None else f"{n:,}"  # noqa: E731
    print(f"{label:38s} {fmt(cross['b_wins_up_to']):>22s} {fmt(cross['from']):>17s} {fmt(top):>13s} "
          f"{(f'{r[top]:.3g}x' if top else '-'):>26s}")

# %% [markdown]
# ## 6. What an optimised implementation adds
#
# Everything above compares algorithms in plain PyTorch. The library's `AFNO2d` also has a faster CPU path, used
# by default for large inputs: SciPy's FFT over the channels-last tensor (no transposes), transforms in place, the
# block MLP as real matrix products, and a hand-written backward. It computes the same numbers
# (tested to float64 rounding). How much it adds on the project's 2-core CPU, the two paths timed alternately in
# one process, median of the per-cycle ratios (`benchmarks/cpu_2threads_ablation.json` at 65,536 tokens,
# `benchmarks/cpu_2threads_switch_points.json` on smaller grids):

# %%
if folder is not None:
    ablation = json.loads((folder / "cpu_2threads_ablation.json").read_text())["results"]
    ratio = {r["mode"]: r["ratio_off_on"] for r in ablation  # readable path time / fast path time
             if r["piece"].startswith("fast path") and r["shape"] == [1, 256, 256, 256]}
    largest, speedup = 256 * 256, ratio["forward"]
    print(f"AFNO at {largest:,} tokens, C = 256: readable / fast CPU path = {ratio['forward']:.1f}x forward, "
          f"{ratio['backward']:.1f}x forward+backward")
    switch = json.loads((folder / "cpu_2threads_switch_points.json").read_text())["results"]
    print("readable / fast, one image, forward: " + ", ".join(
        f"{r['tokens']:,} tokens {r['ratio']:.2f}x" for r in switch if r["shape"][0] == 1 and r["mode"] == "forward"))

# %% [markdown]
# That factor is engineering, not algorithm. It grows with the grid (the second line: below or near 1 on small
# grids, which is why `AFNO2d` keeps inputs up to 12 MiB on the readable path, then rising towards the factor above),
# because what it saves is mostly memory traffic: transposes and full-size temporaries. So on a CPU it lowers AFNO's
# curve and its fitted slope, and moves the crossover with attention to fewer tokens; it does not change the
# comparison of algorithms above, a slope of 2 against one near 1.
# How it is built, measured and checked against the FFT floors is in
# [`benchmarks/README.md`](../benchmarks/README.md).
#
# ## What you learned

# %%
afno_slope = time_slopes.get(f"{AFNO_PLAIN} [forward]", float("nan"))
att_slope = time_slopes.get("attention [forward]", float("nan"))
print(f"- FLOPs: attention / AFNO = {ratio_small:.1f}x at {curves['afno'][0][0]:,} tokens and grows as N; "
      f"FLOP slopes: attention {fit_slope(*curves['attention']):.2f}, AFNO {fit_slope(*curves['afno']):.2f}")
print(f"- time on this machine: fitted slope attention {att_slope:.2f}, AFNO {afno_slope:.2f}; "
      + describe_crossover(results, AFNO_PLAIN, "attention", ("AFNO", "attention")))
for dtype, rows in gpu.items():
    print(f"- H200 {dtype}: " + describe_crossover(rows, "afno", "attention", ("AFNO", "attention")))
att_cpu = memory_slopes.get("attention [forward]", float("nan"))
print(f"- memory: a fused attention kernel keeps attention's memory linear in N (fitted slope on this machine "
      f"{att_cpu:.2f}); " + "; ".join(f"H200 {dtype} at {n:,} tokens: AFNO {a:.1f}x its input, attention {b:.1f}x"
                                      for dtype, (n, a, b) in gpu_memory.items()))
if folder is not None:
    print(f"- the library's fast CPU path: {speedup:.1f}x on top of the plain algorithm at {largest:,} tokens")

# %% [markdown]
# ## Exercises
#
# 1. Time forward+backward (`modes=["backward"]`) for AFNO (plain) and GFN on your machine. Is the slope still
#    about 1, and what multiple of the forward time is a training step?
#
# <details><summary>Solution</summary>
#
# ```python
# fb = bench.run_benchmark([AFNO_PLAIN, "gfn"], GRIDS, dim=DIM, modes=["forward", "backward"], repeats=3,
#                          memory=False)
# print(bench.slopes(fb))
# print(bench.format_table(fb))
# ```
# The backward pass is made of the same FFTs and matrix products (transposed), so it scales the same way and
# costs roughly two to three times the forward: one more FFT round trip and twice the forward's matrix products.
# </details>
#
# 2. Attention's FLOPs exceed AFNO's at every size because of its projections. Leave them out: from how many
#    tokens does the $QK^\top$, $AV$ part alone ($4N^2C$) exceed AFNO's whole count, for $C = 256$ and $C = 768$?
#    Why does the crossover move with $C$?
#
# <details><summary>Solution</summary>
#
# ```python
# for ch in (256, 768):
#     g = next(g for g in range(2, 512) if 4 * (g * g) ** 2 * ch > mixer_flops(AFNO2d(ch), (g, g))["total"])
#     print(ch, g * g)
# ```
# Setting $4N^2C = 8NC^2/k + \dots$ gives $N \approx 2C/k$ plus the FFT term, so the crossover grows linearly with
# $C$: wide models reach AFNO's advantage only at larger token counts (still only a few hundred tokens here).
# </details>
#
# 3. How much memory would attention need at 65,536 tokens if it stored its scores, and how much does the fused
#    kernel take? Compare with the committed CPU run.
#
# <details><summary>Solution</summary>
#
# ```python
# n, heads = 65536, 8
# print(heads * n * n * 4 / 2**30, "GiB of float32 scores")
# if folder is not None:
#     print(measured(cpu_rows, "attention", "forward", "memory_ratio")[n], "x the input, measured")
# ```
# 128 GiB of scores against a measured peak of about five times the 64 MiB input: the fused kernel never holds
# the $N\times N$ matrix, only blocks of it.
# </details>
#
# 4. On your machine, how much faster is the library's default AFNO than `path="plain"` at the largest grid?
#
# <details><summary>Solution</summary>
#
# ```python
# cmp = bench.run_benchmark(["afno", AFNO_PLAIN], [GRIDS[-1]], dim=DIM, repeats=3, memory=False)
# print(bench.format_table(cmp))
# ```
# On a CPU above 2 MiB of input (forward) the default takes the SciPy path; the factor depends on the CPU's FFT
# speed and caches (section 6 gives the project machine's). On a GPU both are the same path.
# </details>
#
# 5. What does AFNO's own truncation, `hard_thresholding_fraction`, buy in time on your machine? Sweep it at one
#    grid and compare the measured time with the FLOP count.
#
# <details><summary>Solution</summary>
#
# ```python
# from afno_tutorial.viz.scaling import plot_sweep
# sweep = bench.sweep_afno("hard_thresholding_fraction", [0.25, 0.5, 0.75, 1.0], grid=GRIDS[-2], dim=DIM, repeats=3)
# plot_sweep(sweep);
# ```
# The FLOPs fall with about the square of the fraction (the MLP runs on the kept bins only), the time much less:
# reading the input, writing the output and the transforms along the half-spectrum axis are paid in full at every
# fraction.
# </details>
