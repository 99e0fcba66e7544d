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
# # 03 · Frequency sparsity and token mixing
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/afno-tutorial/afno-tutorial/blob/main/notebooks/03_frequency_sparsity_and_mixing.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/afno-tutorial/afno-tutorial/main?urlpath=lab/tree/notebooks/03_frequency_sparsity_and_mixing.ipynb)
#
# Notebook 02 measured what AFNO's changes cost and buy. This one looks inside trained mixers: which
# frequencies carry the token features, how many coefficients AFNO's soft-threshold really zeroes, where each
# mixer "looks", and which symmetries each mixer keeps.
#
# **You will learn**
# - how the power spectrum of token features evolves through a trained AFNO;
# - how the fraction of zeroed spectral coefficients depends on $\lambda$, and which modes survive (slider);
# - to read token-mixing maps (Jacobians) of AFNO, self-attention, GFN and FNO on a real image (slider);
# - why AFNO is **not** shift-equivariant while GFN and FNO are;
# - what happens at twice the training resolution, with `norm="ortho"` versus `"forward"` and absolute modes.
#
# **Prerequisites:** notebooks 01 and 02.

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline
import numpy as np
import torch
import torch.nn.functional as F

from afno_tutorial import config, spectral
from afno_tutorial.data import make_pretraining_images
from afno_tutorial.lessons.images import load_image
from afno_tutorial.lessons.jacobian import token_jacobian_map
from afno_tutorial.lessons.ladder import train_mixers
from afno_tutorial.lessons.probes import capture_mixer_inputs, mixing_part
from afno_tutorial.lessons.resolution import resolution_consistency
from afno_tutorial.lessons.sparsity import zeroed_fraction
from afno_tutorial.lessons.symmetry import shift_errors
from afno_tutorial.train import evaluate_inpainting
from afno_tutorial.viz import mixing as vmix
from afno_tutorial.viz import spectra, widgets

FAST = config.fast_mode()
config.seed_everything(0)
DEVICE = config.device()
SETTING = (dict(img_size=32, patch_size=4, dim=16, depth=1, steps=5, n_train=32, n_test=8)
           if FAST else dict(img_size=64, patch_size=4, dim=64, depth=4, steps=400, n_train=1000, n_test=64))
GRID = SETTING["img_size"] // SETTING["patch_size"]  # token grid side
print("fast mode" if FAST else "full setting", SETTING, "| device:", config.describe_device(DEVICE))

# %% [markdown]
# ## Five small models, trained the same way
#
# As in notebook 02: masked-patch inpainting of the library's procedural images, same backbone, seed, batches
# and schedule; only the mixer differs. Besides the paper's AFNO (`norm="ortho"`, $\lambda=0.01$, all modes) we
# train a resolution-independent variant (`norm="forward"`, an absolute kept set $|k_y|, k_x < $ `GRID/2`, and
# $\lambda$ divided by $\sqrt{HW}$ so it cuts at the same level at the training resolution), GFN, FNO and
# self-attention.

# %%
half = GRID // 2
specs = {
    "AFNO": ("afno", {"num_blocks": 8 if not FAST else 4}),
    "AFNO forward": ("afno", {"num_blocks": 8 if not FAST else 4, "fft_norm": "forward", "modes": (half, half),
                              "sparsity_threshold": 0.01 / GRID}),
    "GFN": ("gfn", {}),
    "FNO": ("fno", {"modes": (half, half)}),
    "attention": ("attention", {"num_heads": 8 if not FAST else 4}),
}
train_images = make_pretraining_images(SETTING["n_train"], SETTING["img_size"], seed=0)
test_images = make_pretraining_images(SETTING["n_test"], SETTING["img_size"], seed=1)
models = train_mixers(specs, train_images, dim=SETTING["dim"], depth=SETTING["depth"],
                      patch_size=SETTING["patch_size"], steps=SETTING["steps"], lr=2e-3, seed=0, device=DEVICE)
psnr = {name: evaluate_inpainting(m, test_images)["psnr"] for name, m in models.items()}
print({name: f"{p:.2f} dB" for name, p in psnr.items()}, "| test PSNR on hidden pixels")

# %% [markdown]
# ## 1. Spectra of the token features
#
# The power spectrum $P(\mathbf k) = \overline{|\mathcal F(x)_{\mathbf k}|^2}$ (mean over images and channels,
# `spectral.power_spectrum`) of the tokens entering each block's mixer, for held-out images. Low frequencies
# dominate, as for natural images (notebook 01), but the learned features keep a broad floor of high
# frequencies: patch embeddings of textures are far from smooth.

# %%
afno = models["AFNO"]
feats = [f.cpu() for f in capture_mixer_inputs(afno, test_images.to(DEVICE))]  # one (B, h, w, C) per block
spectra.plot_power_spectra([spectral.power_spectrum(f) for f in feats],
                           [f"block {i + 1} mixer input" for i in range(len(feats))]);

# %% [markdown]
# ## 2. How sparse does soft-thresholding make the spectrum?
#
# After the shared MLP, AFNO applies $S_\lambda(u) = \mathrm{sign}(u)\max(|u| - \lambda, 0)$ to the real and
# imaginary part of every channel of every bin. Below, $\lambda$ is varied at inference on the trained model's
# mixers (each fed its real inputs) and two things are counted: the fraction of exactly-zero output parts, and
# the fraction of modes switched off entirely (zero in every channel).

# %%
lambdas = np.logspace(-4, 0.5, 10 if FAST else 19).tolist()
afno_mixers = [block.mixer.cpu() for block in afno.backbone.blocks]
curves = [zeroed_fraction(m, f, lambdas) for m, f in zip(afno_mixers, feats)]
mode_curve = zeroed_fraction(afno_mixers[0], feats[0], lambdas, per="mode")
for i, (m, f) in enumerate(zip(afno_mixers, feats)):
    coef, mode = (zeroed_fraction(m, f, [m.sparsity_threshold], per=p)[0] for p in ("coefficient", "mode"))
    print(f"block {i + 1} at the trained lambda = {m.sparsity_threshold}: {100 * coef:.1f}% of the coefficients "
          f"and {100 * mode:.1f}% of the modes zeroed")
vmix.plot_sparsity_curve(lambdas, curves[0], afno_mixers[0].sparsity_threshold, mode_curve);

# %% [markdown]
# Read the two curves together: soft-thresholding makes the output sparse **per coefficient** (each channel's
# real or imaginary part separately) long before it switches whole modes off, so it is not a learned
# truncation; the printout gives both numbers at the trained $\lambda$ for every block.
#
# Move the slider to change $\lambda$ for the first block's mixer: the left panel shows, per bin, the share of
# (image, channel) coefficients that survive; the right panel what the mixer adds to its input for one image.
# Static figures for two values follow.

# %%
widgets.lambda_widget(afno_mixers[0], feats[0][:16], lam=0.01)

# %%
from afno_tutorial.lessons.sparsity import mixer_output, surviving_fraction_map
for lam in (0.01, 0.1):
    vmix.plot_lambda_effect(surviving_fraction_map(afno_mixers[0], feats[0][:16], lam),
                            (mixer_output(afno_mixers[0], feats[0][:1], lam) - feats[0][:1])[0].norm(dim=-1),
                            lam, zeroed_fraction(afno_mixers[0], feats[0][:16], [lam])[0]);

# %% [markdown]
# With `norm="ortho"` the coefficients of an $h\times w$ grid are $\sqrt{hw}$ times the Fourier-series
# coefficients, so a fixed $\lambda$ is a much lower bar at larger grids: the sparsity a model learned is tied to
# its training resolution (section 5).
#
# ## 3. Where does each token look?
#
# For an output token $t$ the map $M_t(s) = \lVert \partial y_t / \partial x_s \rVert_F$ shows how strongly
# it depends on each input token $s$, for the first block's mixer of each trained model, on the tokens of a real
# image (`camera`, CC0). AFNO's own skip connection ($y = x + \dots$) is removed so that only mixing shows.

# %%
camera = load_image("camera", SETTING["img_size"], gray=False)  # (3, S, S)
inputs = {name: capture_mixer_inputs(m, camera[None].to(DEVICE))[0].cpu() for name, m in models.items()}
mixers = {name: m.backbone.blocks[0].mixer.cpu() for name, m in models.items() if name != "AFNO forward"}
token = (GRID // 4, GRID // 2)
maps = {name: token_jacobian_map(lambda t, m=m: mixing_part(m, t), inputs[name], token) for name, m in mixers.items()}
vmix.plot_jacobian_maps(maps, token, camera);

# %% [markdown]
# Pick another output token with the sliders (row $i$, column $j$):

# %%
widgets.jacobian_widget(mixers, {k: inputs[k] for k in mixers}, token=token, image=camera)

# %%
vmix.plot_jacobian_maps({name: token_jacobian_map(lambda t, m=m: mixing_part(m, t), inputs[name], (GRID - 2, 2))
                         for name, m in mixers.items()}, (GRID - 2, 2), camera);

# %% [markdown]
# How to read the maps: GFN and FNO are convolutions, so their map is the same pattern for every token, moved
# along with it (compare the two figures), whatever the image. Attention's map depends on the content: it weighs
# tokens by query-key similarity. AFNO's map is a global pattern too, but the ReLU, biases and threshold make it
# depend on the input's coefficients, so it changes with the token and the image: the "adaptive" part that
# rung 3 of notebook 02 lacked. The share of $|J|^2$ from other tokens in each title says how non-local each
# mixer is at this token.
#
# ## 4. Symmetry: AFNO is not shift-equivariant
#
# A circular shift by $\mathbf s$ multiplies every coefficient by a phase: $z_{\mathbf k} \mapsto
# e^{-2\pi i\,\mathbf k\cdot\mathbf s/N} z_{\mathbf k}$. A per-bin linear map commutes with that, so GFN and FNO
# satisfy $f(\mathrm{shift}\,x) = \mathrm{shift}\,f(x)$; so does attention (no position information inside
# the mixer). AFNO's ReLU and soft-shrink act on the real and imaginary parts separately, and that does not
# commute with a rotation of the complex plane: for $u = 1$ and the phase $e^{i\pi} = -1$,
# $\mathrm{ReLU}(e^{i\pi}u) = 0 \ne e^{i\pi}\,\mathrm{ReLU}(u) = -1$. Measured on the trained mixers and
# their real inputs:

# %%
shifts = [(1, 0), (0, 3), (GRID // 2, GRID // 2)]
test_inputs = {name: capture_mixer_inputs(m, test_images[:8].to(DEVICE))[0].cpu() for name, m in models.items()}
errors = shift_errors(mixers, {k: test_inputs[k] for k in mixers}, shifts)
for name, errs in errors.items():
    print(f"{name:10s}", "  ".join(f"shift {s}: {e:.1e}" for s, e in zip(shifts, errs)))
vmix.plot_shift_errors(errors, shifts);

# %% [markdown]
# In a full network the position embedding breaks shift symmetry anyway; the point is what the mixer itself
# assumes. A convolution treats every location alike; AFNO's response to a pattern depends (a little) on where
# it sits relative to the grid, because the nonlinearity acts on the phase-dependent real and imaginary parts.
#
# ## 5. Twice the resolution: `ortho` versus `forward` with absolute modes
#
# Sample the same token field on a grid twice as fine (trigonometric interpolation, `resolution.fourier_upsample`)
# and compare $f(\mathrm{up}\,x)$ with $\mathrm{up}\,f(x)$. With `norm="ortho"` every coefficient doubles
# ($\sqrt{4}$), so the biases and $\lambda$ act on different numbers, and the new high-frequency bins also pass
# through the MLP (whose biases put energy there even when the input has none). With `norm="forward"`, an
# absolute kept set and zeros outside it, the MLP sees exactly the same coefficients: the same function.

# %%
consistency = {name: resolution_consistency(models[name].backbone.blocks[0].mixer.cpu(), test_inputs[name][:4])
               for name in ("AFNO", "AFNO forward", "FNO", "GFN")}
for name, err in consistency.items():
    print(f"{name:13s} relative difference at 2x resolution: {err:.1e}")
double = F.interpolate(test_images, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
psnr_2x = {name: (psnr[name], evaluate_inpainting(models[name], double)["psnr"]) for name in ("AFNO", "AFNO forward")}
for name, (p1, p2) in psnr_2x.items():
    print(f"{name:13s} test PSNR {p1:.2f} dB at {SETTING['img_size']} px, {p2:.2f} dB at {2 * SETTING['img_size']} px")
vmix.plot_resolution(consistency, psnr_2x);

# %% [markdown]
# The mixer-level check is exact: only the forward-normalised AFNO with an absolute kept set (and FNO, built that
# way) computes the same field at both resolutions; the paper's `ortho` AFNO does not, and GFN interpolates its
# filter, which is not the same filter either. The whole-model PSNR mixes this with other changes: each patch
# now covers a quarter of the content, the position embedding is interpolated, and the bicubically upsampled
# images are smoother (easier) than the originals. It is printed for completeness and does not isolate the
# normalisation; the mixer-level check above does.
#
# ## Exercises
#
# 1. For the trained AFNO's first mixer, find the smallest $\lambda$ in `lambdas` that zeroes more than half
#    of the coefficients. Is it above or below the training value?
#
# <details><summary>Solution</summary>
#
# `next(l for l, z in zip(lambdas, curves[0]) if z > 0.5)`. Compare it with `0.01`; the printout of section 2
# gives the fraction at the training value directly.
# </details>
#
# 2. Show with `token_jacobian_map` that GFN's map for token $(i, j)$ is its map for $(0, 0)$ rolled by
#    $(i, j)$, and that AFNO's is not.
#
# <details><summary>Solution</summary>
#
# ```python
# f = lambda name, t: token_jacobian_map(lambda u: mixing_part(mixers[name], u), inputs[name], t)
# for name in ("GFN", "AFNO"):
#     print(name, (torch.roll(f(name, (0, 0)), (3, 5), (0, 1)) - f(name, (3, 5))).abs().max())
# ```
# GFN gives float rounding; AFNO a clearly non-zero difference (its map also depends on the content at each
# location). Note that GFN's map is a property of its filter alone: it does not even depend on the input.
# </details>
#
# 3. Build `AFNO2d(64, fft_norm="forward", modes=(4, 4))` and `AFNO2d(64)` with random weights and compute
#    `resolution_consistency` for both on `torch.randn(1, 16, 16, 64)`. Which one passes, and why does the
#    default one fail even though its weights are the same at every resolution?
#
# <details><summary>Solution</summary>
#
# The forward/absolute-modes one gives ~1e-7. The default fails because (a) `ortho` coefficients double on the
# 2x grid, so the biases and $\lambda$ act at a different relative level and the ReLU switches differently,
# and (b) its kept set is a fraction of the grid, so the 2x grid keeps new bins, where the biases alone create
# output.
# </details>
