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
# - how the power spectrum of the token features changes from block to block of a trained AFNO;
# - how the fraction of zeroed spectral coefficients depends on $\lambda$, and which modes survive (slider);
# - what AFNO's biases alone put into its output, and why that pattern sits at token $(0, 0)$;
# - to read token-mixing maps (Jacobians) of AFNO, self-attention, GFN and FNO on a real image (slider);
# - why AFNO is **not** shift-equivariant while GFN and FNO are, how large its error is and where it comes from;
# - what happens at twice the training resolution, with `norm="ortho"` versus `"forward"` and absolute modes.
#
# **Prerequisites:** notebooks 01 and 02. The default setting trains five small models, about five minutes on a
# 2-core CPU.

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
from afno_tutorial.lessons.probes import bias_field, capture_mixer_inputs, mixing_part, without_biases
from afno_tutorial.lessons.resolution import resolution_consistency
from afno_tutorial.lessons.sparsity import mixer_output, surviving_fraction_map, zeroed_fraction
from afno_tutorial.lessons.symmetry import shift_error_parts, shift_errors
from afno_tutorial.train import evaluate_inpainting
from afno_tutorial.viz import mixing as vmix
from afno_tutorial.viz import spectra, widgets

FAST = config.fast_mode()
config.seed_everything(0)
DEVICE = config.device()
SETTING = (dict(img_size=32, patch_size=4, dim=16, depth=2, steps=5, n_train=32, n_test=8)
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
# self-attention. Each mixer returns the mixed tokens only; the blocks add the residual.

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
print({name: f"{p:.2f} dB" for name, p in psnr.items()}, "| test PSNR on hidden pixels (one seed)")

# %% [markdown]
# ## 1. Spectra of the token features, block by block
#
# The power spectrum $P(\mathbf k) = \overline{|\mathcal F(x)_{\mathbf k}|^2}$ (mean over images and channels,
# `spectral.power_spectrum`) of the tokens entering each block's mixer, for held-out images, on one logarithmic
# colour scale:

# %%
afno = models["AFNO"]
feats = [f.cpu() for f in capture_mixer_inputs(afno, test_images.to(DEVICE))]  # one (B, h, w, C) per block
powers = [spectral.power_spectrum(f) for f in feats]
labels = [f"block {i + 1}" for i in range(len(feats))]
spectra.plot_power_spectra(powers, [f"{label} mixer input" for label in labels]);

# %% [markdown]
# The maps differ little to the eye: every block's features keep most of their power at low $|\mathbf k|$, with a
# broad floor of high frequencies (patch embeddings of textures are far from smooth). Averaged over rings of equal
# $|\mathbf k|$, and divided by the first block's, the change through depth becomes readable:

# %%
spectra.plot_radial_spectra(powers, labels);
high = GRID // 4
shares = []
for label, p in zip(labels, powers):
    ky, kx = spectral.frequency_grid(GRID, GRID)
    weight = torch.where((kx == 0) | (kx == GRID // 2), 1.0, 2.0)  # columns that stand for +k_x and -k_x count twice
    radius = torch.sqrt(ky.double() ** 2 + kx.double() ** 2)
    shares.append(float((p * weight)[radius >= high].sum() / (p * weight).sum()))
    print(f"{label}: {100 * shares[-1]:.1f}% of the power at |k| >= {high}")
print(f"from block 1 to block {len(labels)} the high-frequency share goes from {100 * shares[0]:.1f}% "
      f"to {100 * shares[-1]:.1f}% ({'up' if shares[-1] > shares[0] else 'down'} by a factor "
      f"{max(shares[-1], shares[0]) / min(shares[-1], shares[0]):.2f})")

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
trained = {}
for i, (m, f) in enumerate(zip(afno_mixers, feats)):
    trained[i] = [zeroed_fraction(m, f, [m.sparsity_threshold], per=p)[0] for p in ("coefficient", "mode")]
    print(f"block {i + 1} at the trained lambda = {m.sparsity_threshold}: {100 * trained[i][0]:.1f}% of the "
          f"coefficients and {100 * trained[i][1]:.1f}% of the modes zeroed")
vmix.plot_sparsity_curve(lambdas, curves[0], afno_mixers[0].sparsity_threshold, mode_curve);

# %% [markdown]
# Read the two curves together: soft-thresholding makes the output sparse **per coefficient** (each channel's
# real or imaginary part separately) long before it switches whole modes off, so it is not a learned
# truncation; the printout gives both numbers at the trained $\lambda$ for every block.
#
# Move the slider to change $\lambda$ for the first block's mixer: the left panel shows, per bin, the share of
# (image, channel) coefficients that survive; the right panel the norm of what the mixer outputs at each token for
# one image. Static figures for two values follow.

# %%
widgets.lambda_widget(afno_mixers[0], feats[0][:16], lam=0.01)

# %%
for lam in (0.01, 0.1):
    vmix.plot_lambda_effect(surviving_fraction_map(afno_mixers[0], feats[0][:16], lam),
                            mixer_output(afno_mixers[0], feats[0][:1], lam)[0].norm(dim=-1),
                            lam, zeroed_fraction(afno_mixers[0], feats[0][:16], [lam])[0]);

# %% [markdown]
# With `norm="ortho"` the coefficients of an $h\times w$ grid are $\sqrt{hw}$ times the Fourier-series
# coefficients, so a fixed $\lambda$ is a much lower bar at larger grids: the sparsity a model learned is tied to
# its training resolution (section 6).
#
# ## 3. The bright token at $(0, 0)$: what the biases alone add
#
# The maps on the right above often show one bright token in the top-left corner. The MLP's biases explain it.
# Feed the mixer zeros: every bin's input is $z_{\mathbf k} = 0$, so every kept bin gets the same output
# $S_\lambda(W_2\,\sigma(b_1) + b_2)$, a **constant spectrum**, whose inverse FFT is an impulse at token $(0,0)$
# (its imaginary part gives the Hilbert-type transform of that impulse, a line along row 0). The check: the
# output for one image, the bias field, and the output of the same mixer with $b_1 = b_2 = 0$, on one scale.

# %%
mixer0, x0 = afno_mixers[0], feats[0][:1]
with torch.no_grad():
    out = mixing_part(mixer0, x0)[0].norm(dim=-1)
    field = bias_field(mixer0, (GRID, GRID))[0]
    unbiased = mixing_part(without_biases(mixer0), x0)[0].norm(dim=-1)
energy = field.pow(2).sum(-1)
at_origin, on_row0 = float(energy[0, 0] / energy.sum()), float(energy[0].sum() / energy.sum())
corner = lambda m: float(m[0, 0] / m.flatten()[1:].max())  # noqa: E731  token (0, 0) against all others
print(f"bias field: {100 * at_origin:.1f}% of its energy at token (0, 0), {100 * on_row0:.1f}% on row 0")
print(f"token (0, 0) is {corner(out):.2f}x the brightest other token with the biases, {corner(unbiased):.2f}x without")
vmix.plot_token_maps({"mixer output, one image": out, "bias field: mixer(0)": field.norm(dim=-1),
                      "same mixer, biases set to 0": unbiased}, "norm of the mixer's output at the token",
                     marks=[(0, 0)]);

# %% [markdown]
# With the biases off the corner is no brighter than its neighbours: the artefact is the bias field, a fixed
# pattern anchored at token $(0,0)$ of the grid, whatever the image. (A trained network can use it, like a
# position-dependent offset; section 5 shows what it does to shift equivariance.)
#
# ## 4. Where does each token look?
#
# For an output token $t$ the map $M_t(s) = \lVert \partial y_t / \partial x_s \rVert_F$ shows how strongly
# it depends on each input token $s$, for the first block's mixer of each trained model, on the tokens of a real
# image (`camera`, CC0). All maps share one logarithmic colour scale, so the mixers can be compared with each
# other.

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
# depend on the input's coefficients, so it changes with the token and the image: the "adaptive" part that the
# shared linear rungs of notebook 02 lack. The share of $|J|^2$ from other tokens in each title says how non-local
# each mixer is at this token.
#
# ## 5. Symmetry: AFNO is not shift-equivariant
#
# A circular shift by $\mathbf s$ multiplies every coefficient by a phase: $z_{\mathbf k} \mapsto
# e^{-2\pi i\,\mathbf k\cdot\mathbf s/N} z_{\mathbf k}$. A per-bin linear map commutes with that, so GFN and FNO
# satisfy $f(\mathrm{shift}\,x) = \mathrm{shift}\,f(x)$; so does attention (no position information inside
# the mixer). AFNO's ReLU and soft-shrink act on the real and imaginary parts separately, and that does not
# commute with a rotation of the complex plane: for $u = 1$ and the phase $e^{i\pi} = -1$,
# $\mathrm{ReLU}(e^{i\pi}u) = 0 \ne e^{i\pi}\,\mathrm{ReLU}(u) = -1$. Measured on the trained mixers and their real
# inputs, as $\lVert f(\mathrm{shift}\,x) - \mathrm{shift}\,f(x)\rVert / \lVert f(x)\rVert$:

# %%
shifts = [(1, 0), (0, 3), (GRID // 2, GRID // 2)]
test_inputs = {name: capture_mixer_inputs(m, test_images[:8].to(DEVICE))[0].cpu() for name, m in models.items()}
errors = shift_errors(mixers, {k: test_inputs[k] for k in mixers}, shifts)
for name, errs in errors.items():
    print(f"{name:10s}", "  ".join(f"shift {s}: {e:.1e}" for s, e in zip(shifts, errs)))
vmix.plot_shift_errors(errors, shifts);

# %% [markdown]
# AFNO's error is not a small correction: its output for a shifted input differs from the shifted output by an
# amount of the order of the output itself. Two things cause it, and each can be measured alone: the bias field of
# section 3 (a fixed pattern at token $(0,0)$ that does not move with the input), and the component-wise ReLU and
# soft-shrink (the same mixer with its biases set to zero):

# %%
parts = [shift_error_parts(mixers["AFNO"], test_inputs["AFNO"], s) for s in shifts]
for s, p in zip(shifts, parts):
    print(f"shift {s}: AFNO {p['mixer']:.2f}; its bias field alone {p['bias_field']:.2f}; "
          f"with the biases set to zero {p['without_biases']:.2f}  (each relative to ||f(x)||)")
mean = {key: sum(p[key] for p in parts) / len(parts) for key in parts[0]}
print(f"mean over the shifts: AFNO {mean['mixer']:.2f} = bias field {mean['bias_field']:.2f} and nonlinearity "
      f"{mean['without_biases']:.2f} (they do not simply add: the errors are vectors)")

# %% [markdown]
# So the trained AFNO treats a pattern differently depending on where it sits on the grid, by the amount printed
# above, and the printout says how much of that is the biases' fixed pattern and how much the nonlinearity acting
# on phase-dependent real and imaginary parts. When the bias field's part is close to the whole, as it can be after
# a short training, the mixer's output is still mostly that fixed pattern: its input-dependent part starts as the
# product of two small weight matrices, while the biases act at full strength from the first step. In a full network the position embedding breaks shift symmetry
# anyway; the point is what the mixer itself assumes: a convolution treats every location alike, AFNO does not.
#
# ## 6. Twice the resolution: `ortho` versus `forward` with absolute modes
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
# ## What you learned

# %%
print(f"- power at |k| >= {high} in the features entering blocks 1..{len(labels)}: "
      + ", ".join(f"{100 * v:.1f}%" for v in shares))
print(f"- at the trained lambda, soft-thresholding zeroes {100 * min(v[0] for v in trained.values()):.0f}-"
      f"{100 * max(v[0] for v in trained.values()):.0f}% of the output coefficients per block and "
      f"{100 * max(v[1] for v in trained.values()):.1f}% of the modes entirely")
print(f"- the biases alone put {100 * at_origin:.0f}% of their field's energy on token (0, 0) "
      f"({100 * on_row0:.0f}% on row 0): the bright corner")
print(f"- shift-equivariance error: AFNO {mean['mixer']:.2f} (bias field {mean['bias_field']:.2f}, nonlinearity "
      f"{mean['without_biases']:.2f}); " + ", ".join(f"{n} {max(e):.0e}" for n, e in errors.items() if n != "AFNO"))
print("- the same field at 2x resolution: " + ", ".join(f"{n} {e:.0e}" for n, e in consistency.items()))

# %% [markdown]
# ## Exercises
#
# 1. For the trained AFNO's first mixer, find the smallest $\lambda$ in `lambdas` that zeroes more than half
#    of the coefficients. Is it above or below the training value?
#
# <details><summary>Solution</summary>
#
# ```python
# print(next(l for l, z in zip(lambdas, curves[0]) if z > 0.5), afno_mixers[0].sparsity_threshold)
# ```
# Compare it with `0.01`; the printout of section 2 gives the fraction at the training value directly.
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
# ```python
# from afno_tutorial import AFNO2d
# x16 = torch.randn(1, 16, 16, 64)
# for m in (AFNO2d(64, fft_norm="forward", modes=(4, 4)), AFNO2d(64)):
#     print(resolution_consistency(m, x16))
# ```
# The forward/absolute-modes one gives float rounding (~1e-7). The default fails because (a) `ortho` coefficients
# double on the 2x grid, so the biases and $\lambda$ act at a different relative level and the ReLU switches
# differently, and (b) its kept set is a fraction of the grid, so the 2x grid keeps new bins, where the biases
# alone create output.
# </details>
#
# 4. Is the bias field's impulse really at token $(0, 0)$ for any kept set? Compute `bias_field` for
#    `AFNO2d(64, hard_thresholding_fraction=0.5)` (random weights) on a $16\times16$ grid and look at
#    `field[0].norm(dim=-1)`.
#
# <details><summary>Solution</summary>
#
# ```python
# from afno_tutorial import AFNO2d
# field = bias_field(AFNO2d(64, hard_thresholding_fraction=0.5), (16, 16))[0].norm(dim=-1)
# print(field[:3, :6])
# ```
# With half the modes kept the constant spectrum covers only the low bins, and its inverse FFT is a low-pass
# impulse: a blob of a few tokens around $(0, 0)$ (wrapping around the grid's edges) instead of one token. It is
# still anchored to the grid, not to the image.
# </details>
