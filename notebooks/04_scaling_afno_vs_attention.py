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
# quadratic. Here we measure it on the machine this notebook runs on.
#
# **You will learn**
# - how to count the FLOPs of each token mixer, and why attention's grow as $N^2$ and AFNO's as $N \log N$;
# - how to benchmark honestly: warm-up, medians, a fresh process for peak memory, skipping what cannot fit;
# - how to read a log-log plot: the fitted slope is the exponent ($\approx 1$ for AFNO, $\approx 2$ for attention);
# - where attention stops being feasible on this machine;
# - what `hard_thresholding_fraction` and `num_blocks` buy in cost.
#
# **Prerequisites:** notebooks 00–02 (what the mixers compute). Everything here runs on a CPU; on a GPU pass
# `device="cuda"`.

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline

# %%
import torch

from afno_tutorial import AFNO2d, SelfAttention2d, GlobalFilter2d, SpectralConv2d, fast_mode, describe_device
from afno_tutorial import bench, spectral
from afno_tutorial.flops import mixer_flops
from afno_tutorial.bench.profile import format_profile
from afno_tutorial.viz.scaling import plot_flop_curves, plot_profile, plot_scaling, plot_sweep

FAST = fast_mode()
DIM = 32 if FAST else 256  # channels C
GRIDS = [8, 16] if FAST else [16, 32, 64, 128, 256]  # H = W, tokens = H * W
print(f"fast mode: {FAST}; device: {describe_device()}; C = {DIM}; grids: {GRIDS}")

# %% [markdown]
# ## 1. Counting the work
#
# For $N = HW$ tokens and $C$ channels (forward pass, real FLOPs, a multiply-add counts 2):
#
# | mixer | mixing | FFTs |
# |---|---|---|
# | self-attention | $8NC^2$ (projections) $+ 4N^2C$ ($QK^\top$, $AV$) | – |
# | GFN filter | $6 \cdot N/2 \cdot C$ | $\approx 2 \times 2.5\,NC\log_2 N$ |
# | FNO (fixed modes) | $8 \cdot \text{modes} \cdot C^2/k$ | $\approx 2 \times 2.5\,NC\log_2 N$ |
# | AFNO | $2 \times 8 \cdot \text{kept bins} \cdot C^2 f/k$ | $\approx 2 \times 2.5\,NC\log_2 N$ |
#
# `afno_tutorial.flops.mixer_flops` computes these exactly for any mixer and flags (its matrix parts are tested
# against PyTorch's `FlopCounterMode`). The fitted slope of each curve is its exponent in $N$.

# %%
flop_grids = [16, 32, 64, 128, 256, 512]
mixers = {"AFNO": AFNO2d(DIM), "attention": SelfAttention2d(DIM), "GFN": GlobalFilter2d(DIM, size=(16, 16)),
          "FNO (8x8 modes)": SpectralConv2d(DIM, modes=(8, 8))}
curves = {name: ([g * g for g in flop_grids], [mixer_flops(m, (g, g))["total"] for g in flop_grids])
          for name, m in mixers.items()}
plot_flop_curves(curves, device_rate=50e9);

# %% [markdown]
# AFNO's count is dominated by its channel MLP, which is linear in $N$ (one small MLP per frequency bin); the FFTs
# add the $\log N$. Attention overtakes it after a few thousand tokens and then grows 4x per doubling of the side.
#
# ## 2. Measuring
#
# `bench.run_benchmark` (also the CLI `python -m afno_tutorial.bench`) times each mixer after a warm-up (median of
# repeated runs, forward under `torch.no_grad`) and measures peak memory of one call in a **fresh subprocess**
# (peak resident memory minus what was resident before). A configuration whose predicted time or memory is over
# budget is **skipped** and recorded with its estimate, so nothing hangs. `roundtrip` is a bare `rfft2` + `irfft2`
# of the same tensor with PyTorch's FFT: the floor under every FFT mixer. `roundtrip:library=scipy` is the same
# round trip with SciPy's FFT, which on many CPUs is the faster of the two.
#
# On a CPU the library's `AFNO2d` computes large inputs with SciPy's FFT (pocketfft) instead of PyTorch's
# (`afno_tutorial/mixers/afno_pocketfft.py`, with a hand-written backward pass). PyTorch's CPU FFTs return the
# transformed axis innermost, so a channels-last token tensor would be transposed into and out of every transform;
# SciPy's keep the channels innermost and transform neighbouring channels together with SIMD instructions, and its
# complex transforms work in place. So AFNO's default CPU path never transposes and allocates a single spectrum.

# %%
results = bench.run_benchmark(["afno", "attention", "gfn", "fno", "roundtrip", "roundtrip:library=scipy"], GRIDS, dim=DIM,
                              repeats=3, time_budget=10.0, memory=True)
print(bench.format_table(results))

# %%
plot_scaling(results);

# %% [markdown]
# Read the slopes in the legend: about 1 for the FFT mixers (the $\log N$ factor barely bends a log-log line),
# about 2 for attention once $N$ is large enough for the $N^2$ term to dominate (at small grids fixed overheads
# flatten every curve, so the fit uses grids of at least 32x32). Open markers are configurations that were
# skipped, drawn at their estimate.
#
# ### The same maths, three implementations
#
# `path="plain"` is the whole-tensor computation that autograd differentiates (what runs on a GPU);
# `path="tiled"` computes one block of channels at a time with PyTorch's FFT; `path="pocketfft"` is the
# channels-last computation with SciPy's FFT (the CPU default above 8 MiB of input, or 2 MiB when no gradient is
# recorded). Same outputs, different time and peak memory:

# %%
paths = bench.run_benchmark(["afno:path=pocketfft", "afno:path=tiled", "afno:path=plain", "roundtrip",
                             "roundtrip:library=scipy"], [GRIDS[-1]], dim=DIM, repeats=3, memory=True)
print(bench.format_table(paths))

# %% [markdown]
# The ideas behind the two fast paths:
#
# 1. **Blocks are independent.** With $k$ diagonal blocks, channels $[jb, (j+1)b)$ only ever mix with each other,
#    so the tiled path runs FFT, MLP and inverse FFT one block at a time on a tensor $k$ times smaller, whose
#    temporaries stay in cache.
# 2. **Complex as real.** A complex $b \times b$ weight acting on interleaved (real, imaginary) pairs is a real
#    $2b \times 2b$ matrix, so the MLP is plain real matrix products, and ReLU and the soft-shrink act on the
#    same interleaved numbers (both paths; `afno_tutorial/mixers/afno_block_mlp.py`).
# 3. **A backward pass from adjoints.** The gradient of a linear map is its adjoint. For the truncated
#    transforms, the adjoint of the inverse transform is the forward transform with the non-self-conjugate
#    columns counted twice (they stand for $+k_x$ and $-k_x$), and the other way round. With that, the tiled
#    path's backward recomputes the spectrum instead of storing it; the pocketfft path keeps the MLP's input bins,
#    its hidden activations and a one-byte shrink mask while a graph is recorded, so its backward transforms only
#    the gradient (`keep_activations=False` recomputes instead, for less memory).
# 4. **Mind the layout.** PyTorch's CPU FFTs put the transformed axis innermost in their output, whatever the
#    input's layout, so the tiled path transforms one axis at a time and arranges each step around the layout the
#    previous one returned. SciPy's FFTs keep the layout they are given: the pocketfft path transforms the
#    channels-last tensor as it is, and its transforms over $H$ run in place on the kept columns.
# 5. **The residual rides along.** The inverse transforms are linear and undo the forward ones, so adding the MLP's
#    output *onto* the kept bins of $x$'s own spectrum and transforming back gives $x$ plus the mixer's field,
#    without a separate pass over the output (both paths).
# 6. **Hand the cores over.** After each parallel operator PyTorch's OpenMP threads keep spinning for a few
#    milliseconds, waiting for more work, which the MLP's many small operators profit from. SciPy's FFT runs on
#    threads of its own, so the spinning threads take CPU time from the transform right after the MLP: on this
#    project's 2-core machine it ran 1.37x as long (`benchmarks/openmp_release.py`). The pocketfft path asks the
#    OpenMP runtime to let its threads go before every SciPy transform (`afno_tutorial/openmp.py`).
# 7. **Keep the big buffers.** A buffer of tens of MiB allocated afresh is new memory from the kernel, and its
#    first write pays a page fault per page. The pocketfft path takes its spectrum, the buffers it keeps for the
#    backward, its output and the input's gradient from a pool (`afno_tutorial/buffer_pool.py`) and gets each one
#    back once nothing refers to it any more (for the kept ones: when autograd frees the graph; for the output:
#    when the caller drops it). A training step at 65,536 tokens then touches no new memory at all
#    (`benchmarks/buffer_pool.py` measures what that buys; the FFT floors allocate afresh, as a bare round trip
#    does, and `roundtrip:library=scipy,pooled=True` is the same floor with pooled buffers).
#
# The adjoint identity of idea 3,
# $\langle \mathrm{irfft2}(z), y\rangle = \langle z, \mathrm{rfft2}(y) \cdot w\rangle$, checked numerically:

# %%
size, modes = (12, 10), (4, 5)
y = torch.randn(1, *size, 3, dtype=torch.float64)
z = torch.randn(1, 2 * modes[0] - 1, modes[1], 3, dtype=torch.complex128)  # any kept bins, not Hermitian
w = spectral.real_column_weights(size[1], modes[1], torch.float64).view(-1, 1)
lhs = (spectral.irfft2_kept(z, size, modes, dim=(1, 2)) * y).sum()
rhs = (torch.view_as_real(z) * torch.view_as_real(spectral.rfft2_kept(y, modes, dim=(1, 2)) * w)).sum()
print(f"<irfft2(z), y> = {lhs.item():.12f}\n<z, rfft2(y) w> = {rhs.item():.12f}")

# %% [markdown]
# ## 3. Where attention stops being feasible
#
# From the fitted power laws, how many tokens each mixer handles within a time budget per call on this machine:

# %%
for seconds in (0.1, 1.0, 60.0):
    reach = {m: bench.tokens_for(results, m, seconds) for m in ("attention", "afno")}
    text = {m: "n/a (grids too small to fit)" if n != n else f"~{n:,.0f} tokens" for m, n in reach.items()}
    print(f"{seconds:>5} s per call: attention up to {text['attention']}, AFNO up to {text['afno']}")
ratio = {r["tokens"]: r["time_s"] for r in results if r["mixer"] == "attention" and r["status"] == "ok"}
afno_t = {r["tokens"]: r["time_s"] for r in results if r["mixer"] == "afno" and r["status"] == "ok"}
print("attention / AFNO time:", {n: f"{ratio[n] / afno_t[n]:.1f}x" for n in ratio if n in afno_t})

# %% [markdown]
# Memory tells the same story when attention uses the plain (math) kernel: its $N \times N$ scores per head are
# $8 \cdot 65536^2 \cdot 4$ bytes = 128 GiB at 65,536 tokens. Fused kernels (flash / memory-efficient attention)
# avoid storing them, so memory stays linear, but the time remains quadratic.
#
# ## 4. What the knobs cost
#
# `hard_thresholding_fraction` keeps that fraction of the frequencies on each axis, so about its square of the
# bins go through the MLP; `num_blocks` $k$ divides the MLP's cost by $k$. Reading the input, writing the output
# and the transforms along the half-spectrum axis are paid in full either way, which is why the measured time
# falls much less than the FLOP count.

# %%
sweep_grid = 16 if FAST else 128
fractions = bench.sweep_afno("hard_thresholding_fraction", [0.25, 0.5, 0.75, 1.0], grid=sweep_grid, dim=DIM, repeats=3)
plot_sweep(fractions);

# %%
blocks = bench.sweep_afno("num_blocks", [1, 2, 4, 8, 16], grid=sweep_grid, dim=DIM, repeats=3)
plot_sweep(blocks);

# %% [markdown]
# ### Where the time goes
#
# A timing cannot say which work truncation removes; a profile can. With `profile=True` each setting also runs
# under `torch.profiler`, and `afno_tutorial.bench.profile` sorts every operator's own time into kinds of work: the
# three kinds of FFT, the matrix products, copies, element-wise operations, and the Python around them.
# (CLI: `python -m afno_tutorial.bench --profile`.)

# %%
profile_grid = 16 if FAST else 256
profiled = bench.sweep_afno("hard_thresholding_fraction", [0.25, 0.5, 1.0], grid=profile_grid, dim=DIM, repeats=3,
                            profile=True)
print(format_profile(profiled))
plot_profile(profiled, title=f"AFNO forward at {profile_grid**2:,} tokens, C = {DIM}, by kind of work");

# %% [markdown]
# Compare the bottom bar (fraction 1) with the ones above it:
#
# - **Matrix products** (the block MLP) shrink with the square of the fraction: a quarter of the bins at 0.5, a
#   sixteenth at 0.25.
# - **The transforms** shrink too, but only part of them. The half-spectrum axis $W$ is transformed in full
#   at every fraction (the real FFTs), the other axis only for the kept columns (the complex FFTs, which fall
#   with the fraction).
# - **Copies and element-wise work** are small on this path: gathering each few rows of kept bins for the MLP and
#   adding its output back, both of which shrink with the kept bins.
# - **No fresh memory.** Every large buffer of the path comes from the pool of idea 7, so the profiled calls,
#   which follow the timed ones, write into memory that is mapped already. The machine's speed still drifts from
#   one call to the next, most of all on a virtual machine, so the real-FFT bars can differ between fractions
#   although the work is the same: compare several runs before reading anything into them.
#
# The transforms over $W$, paid in full, are why fraction 0.5 saves much less than three quarters of the time.
# `profile=True` is CPU-only; the next section shows how the balance changes on a GPU.
#
# ## 5. On a GPU: what one H200 measured
#
# The same CLI ran on one NVIDIA H200 (`bash benchmarks/gpu_checks.sh benchmarks`), in bfloat16 (AFNO's spectral
# part stays in float32) from 256 to 262,144 tokens. Its results are committed in `benchmarks/`, so no GPU is
# needed to read them:

# %%
from pathlib import Path

gpu_json = next((d / "cuda_h200_bfloat16.json" for d in (Path("../benchmarks"), Path("benchmarks"))
                 if (d / "cuda_h200_bfloat16.json").exists()), None)
if gpu_json is None:
    print("benchmarks/cuda_h200_bfloat16.json ships with the repository, not with the pip package: clone it to see")
else:
    gpu = [r for r in bench.load_results(gpu_json)
           if r["mixer"] in ("afno", "attention", "gfn", "roundtrip") and r["mode"] == "forward"]
    print(bench.format_table(gpu))
    plot_scaling(gpu, quantities=("time_s",));

# %% [markdown]
# Three things differ from the CPU:
#
# - **Small problems are the host's.** Up to 16,384 tokens AFNO takes 0.6 to 1.4 ms whatever the size (it varied
#   that much between runs): the time of issuing its ~60 PyTorch operators from Python, not of the GPU. The $N \log N$ growth only shows from
#   262,144 tokens on. (CUDA graphs, e.g. `torch.compile(mode="reduce-overhead")`, are the usual cure; not
#   measured here yet. A plain `torch.compile` did not lower that floor.)
# - **Attention is much faster there.** Its flash kernel runs at about 250 TFLOP/s in bf16, so AFNO's lead is
#   smaller than on the CPU: 14x at 65,536 tokens and 62x at 262,144. It still grows with $N$: attention's
#   fitted slope there is 1.84.
# - **At 262,144 tokens data movement weighs as much as the maths.** In float32 the copies around the transforms
#   (the permutation to channels-first, complex copies of the spectrum) take 1.4 ms of the 4.4 ms of kernels,
#   the residual add another 0.5 ms, the block MLP's matrix products 0.6 ms. Forward+backward is dominated by
#   one weight-gradient matrix product that sums over all 131,584 kept bins. `benchmarks/README.md` has the
#   kernel profile (`benchmarks/gpu_profile.py`).
#
# ## 6. Rerun it yourself
#
# ### Two timings, one process
#
# On a shared or virtual machine the speed drifts by tens of percent within seconds, so two configurations timed
# one after the other can differ by the drift as much as by their cost. `afno_tutorial.bench.paired` times two
# of them alternately, call by call, in one process: each cycle's ratio cancels the drift both calls saw, the
# median over the cycles estimates the ratio, and the quartiles show how much of it is noise. The benchmark's
# `--paired CYCLES` does this for every performance target.

# %%
from afno_tutorial.bench.paired import measure_pair

pair = measure_pair(("afno", "forward"), ("roundtrip:library='scipy'", "forward"), GRIDS[-1], DIM, cycles=31)
print(f"AFNO forward / SciPy round trip at {GRIDS[-1] ** 2:,} tokens: {pair['ratio']:.2f} (quartiles "
      f"{pair['ratio_q1']:.2f} to {pair['ratio_q3']:.2f}, {pair['cycles']} cycles; medians {pair['time_a_s']:.4f} s "
      f"and {pair['time_b_s']:.4f} s)")

# %% [markdown]
# The same alternation measures what one setting buys. `compare_switch` times a call with a setting off and on,
# alternately; here the buffer pool of idea 7, for a training step (forward+backward). Requests below 4 MiB are not
# pooled, so at small grids both timings are the same.

# %%
from afno_tutorial.mixers._cpu.buffer_pool import POOL
from afno_tutorial.bench.paired import compare_switch, format_switch

torch.manual_seed(0)
pool_step = bench.make_step(AFNO2d(DIM), torch.randn(1, GRIDS[-1], GRIDS[-1], DIM), "backward")
pooled = compare_switch(lambda on: setattr(POOL, "enabled", on), {"AFNO forward+backward": pool_step},
                        torch.device("cpu"), cycles=5 if FAST else 21)
print(f"{GRIDS[-1] ** 2:,} tokens, pool off / on:", format_switch(pooled))

# %% [markdown]
# ### The command line
#
# The full table of the README (all mixers up to 65,536 tokens, forward and forward+backward, with the project's
# performance targets checked) comes from the CLI; the results of this project's runs are in `benchmarks/`.
# `--isolate` times every configuration in a fresh process, so that none profits from memory an earlier one
# freed; `--rounds 3` times them all three times over, round after round, and keeps the median, so that a
# machine's slow drifts in speed fall on every configuration alike; `--profile` adds the split by kind of work
# shown above.
#
# ```bash
# python -m afno_tutorial.bench --mixers afno "afno:hard_thresholding_fraction=0.5" roundtrip \
#     "roundtrip:hard_thresholding_fraction=0.5" "roundtrip:library=scipy" \
#     "roundtrip:library=scipy,hard_thresholding_fraction=0.5" copy afno_reference attention gfn fno \
#     --grids 16 32 64 128 256 --modes forward backward --isolate --rounds 3 --paired 41 --out benchmarks/mine
# python -m afno_tutorial.bench --device cuda --dtype bfloat16 --grids 64 128 256 512   # on a GPU
# ```
#
# ## Exercises
#
# 1. Add `"afno_reference"` (a reference-style AFNO: channels-last FFT, real/imaginary einsums) to the benchmark
#    above. How much slower is it than `afno`, and how does its achieved GFLOP/s compare?
#
# <details><summary>Solution</summary>
#
# ```python
# ref = bench.run_benchmark(["afno", "afno_reference", "roundtrip"], GRIDS, dim=DIM, repeats=3, memory=False)
# print(bench.format_table(ref))
# ```
# Same FLOPs, but the channels-last FFT and the extra real/imaginary temporaries make it several times slower
# at large grids; the achieved rate column shows it.
# </details>
#
# 2. Time forward+backward (`modes=["backward"]`). Is the slope still about 1 for AFNO? What multiple of the
#    forward time is it?
#
# <details><summary>Solution</summary>
#
# ```python
# fb = bench.run_benchmark(["afno", "gfn"], GRIDS, dim=DIM, modes=["forward", "backward"], repeats=3, memory=False)
# print(bench.slopes(fb))
# ```
# Yes: the backward pass is made of the same FFTs and batched matmuls (transposed), so it scales the same way and
# costs roughly 2-3x the forward: one more FFT round trip and twice the forward's matrix products.
# </details>
#
# 3. With `mixer_flops`, find the number of tokens at which attention's FLOPs equal AFNO's for $C = 256$ and
#    $C = 768$. Why does the crossover move?
#
# <details><summary>Solution</summary>
#
# ```python
# for c in (256, 768):
#     g = next(g for g in range(2, 512, 2)
#              if mixer_flops(SelfAttention2d(c), (g, g))["total"] > mixer_flops(AFNO2d(c), (g, g))["total"])
#     print(c, g * g)
# ```
# Attention's $4N^2C$ must beat both mixers' terms in $NC^2$, so the crossover grows with $C$: wide models reach
# AFNO's advantage only at larger token counts.
# </details>
#
# 4. On your machine, from which grid on does `path="pocketfft"` beat `path="plain"`, and is `path="tiled"` ever
#    the fastest? (The library switches to pocketfft at 8 MiB of input for training and 2 MiB for inference,
#    measured on a 2-core CPU with a 32 MiB last-level cache.)
#
# <details><summary>Solution</summary>
#
# ```python
# cmp = bench.run_benchmark(["afno:path=pocketfft", "afno:path=tiled", "afno:path=plain"], [32, 64, 128, 192, 256],
#                           dim=DIM, modes=["forward", "backward"], repeats=3, memory=False)
# print(bench.format_table(cmp))
# ```
# The fast paths pay once the plain path's full-size spectra and their transposes no longer fit in the last-level
# cache; below that, the plain path's few large FFTs and matmuls are as fast or faster. Which fast path wins
# depends on the FFT library's speed on your CPU.
# </details>
