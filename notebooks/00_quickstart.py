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
# # 00 · Quickstart: four token mixers in one vision backbone
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/afno-tutorial/afno-tutorial/blob/main/notebooks/00_quickstart.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/afno-tutorial/afno-tutorial/main?urlpath=lab/tree/notebooks/00_quickstart.ipynb)
#
# **You will learn**
# - what a *token mixer* is: the part of a vision transformer that lets tokens exchange information;
# - how to build a `VisionBackbone` with AFNO, FNO, a global filter (GFN) or self-attention as its mixer, and how
#   to plug in a mixer of your own;
# - how many parameters each mixer costs, and how to run a backbone on an image of any size;
# - which notebook of this tutorial answers which question.
#
# **Prerequisites:** PyTorch tensors and `nn.Module`; what a transformer block is (attention, MLP, residual
# connections, layer norm). No Fourier analysis: notebook 01 starts it from scratch. Runs in seconds on a CPU.
#
# **Which notebook next?**
#
# | you want to know | read |
# |---|---|
# | how an FFT computes a global convolution, and which frequencies a truncation should keep | 01 |
# | what AFNO computes, written out next to its equations, and what each of its changes over FNO buys | 02 |
# | what a trained AFNO does: sparsity, where each token looks, why it is not shift-equivariant | 03 |
# | whether AFNO is faster and lighter than attention, from how many tokens, on a CPU and on a GPU | 04 |
# | whether it helps a real task: few-shot segmentation with pretrained backbones | 05 |

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline
import torch

import afno_tutorial as at
from afno_tutorial.lessons.images import load_image
from afno_tutorial.viz.features import plot_feature_maps

FAST = at.fast_mode()  # AFNO_TUTORIAL_FAST=1 shrinks everything for CI
IMG_SIZE = 64 if FAST else 256
at.seed_everything(0)
print(at.versions())

# %% [markdown]
# ## A vision transformer is patches, a mixer and an MLP
#
# An image of $H \times W$ pixels is cut into $p \times p$ patches; each patch becomes a *token*, a vector of
# $C$ numbers, and the tokens sit on an $h \times w = H/p \times W/p$ grid. Each transformer block then does
#
# $$x \leftarrow x + \mathrm{Mixer}(\mathrm{LN}(x)), \qquad x \leftarrow x + \mathrm{MLP}(\mathrm{LN}(x)).$$
#
# The MLP acts on every token alone; the **mixer** is the only place where tokens talk to each other. Self-attention
# mixes with a data-dependent $N \times N$ matrix ($N = hw$ tokens, cost $O(N^2 C)$). The Fourier mixers mix
# through the 2-D FFT, at $O(N \log N\, C)$:
#
# | mixer | what it learns in Fourier space | class |
# |---|---|---|
# | FNO | a dense complex $C\times C$ matrix per kept frequency | `SpectralConv2d` |
# | GFN | one complex number per frequency and channel | `GlobalFilter2d` |
# | AFNO | one block-diagonal complex MLP shared by all frequencies, with soft-thresholding | `AFNO2d` |
# | attention | — (token-to-token weights from queries and keys) | `SelfAttention2d` |
#
# Every mixer maps a token grid `(B, h, w, C)` to the same shape and returns the mixed tokens only; the block adds
# the residual $x + \dots$, so swapping one mixer for another changes nothing else:

# %%
x = torch.randn(2, 16, 16, 64)
mixer_params = {}
for name in at.available_mixers():
    mixer = at.build_mixer(name, 64, grid_size=(16, 16))
    mixer_params[name] = sum(p.numel() for p in mixer.parameters())
    print(f"{name:10s} {type(mixer).__name__:16s} params={mixer_params[name]:>9,d}  out={tuple(mixer(x).shape)}")
C, k = 64, at.AFNO2d(64).num_blocks
assert mixer_params["afno"] == 4 * C**2 // k + 4 * C
print(f"AFNO: 4C^2/k + 4C = 4*{C}^2/{k} + 4*{C} = {4 * C**2 // k + 4 * C}")

# %% [markdown]
# AFNO's parameter count does not depend on the grid: its MLP weights are shared by every frequency, so it has
# $4C^2/k + 4C$ parameters for $k$ blocks (checked above). FNO keeps a matrix per mode and GFN a filter per bin,
# so both grow with the number of modes they cover.
#
# ## One backbone, four mixers, a real image
# The backbone embeds patches, adds a learned position embedding (interpolated when the image size changes) and
# runs `depth` blocks. It is untrained here: the pictures show how each mixer spreads the image's structure over
# the features before any learning (notebooks 02 and 05 train them). Each picture shows the first three
# principal components of the token features as red, green and blue.

# %%
image = load_image("astronaut", size=IMG_SIZE, gray=False)  # (3, H, W) in [0, 1]
features, sizes = {}, {}
for name in ["afno", "fno", "gfn", "attention"]:
    at.seed_everything(0)
    backbone = at.VisionBackbone(dim=64, depth=2, patch_size=4, mixer=name, img_size=IMG_SIZE).eval()
    with torch.no_grad():
        features[name] = backbone(image[None])[0]
    sizes[name] = sum(p.numel() for p in backbone.parameters())
print({name: f"{n:,d} parameters" for name, n in sizes.items()})
fig = plot_feature_maps(image, features, title="first 3 principal components of the token features")

# %% [markdown]
# Even untrained, the mixers differ. AFNO, GFN and attention start close to the identity (small initial weights
# inside a residual block), so the features still trace the image's edges. FNO starts with a norm-preserving
# random channel map on each of its $8 \times 8$ lowest modes: its residual branch adds a large low-pass
# picture, and the features look blurred.
#
# The same backbone runs on other image sizes (any multiple of the patch size): AFNO and attention have no
# size-dependent weights, GFN resizes its filter, FNO keeps its absolute modes.

# %%
backbone = at.VisionBackbone(dim=64, depth=2, mixer="afno", img_size=IMG_SIZE).eval()
shapes = {}
for size in [IMG_SIZE // 2, IMG_SIZE, 2 * IMG_SIZE]:
    with torch.no_grad():
        shapes[size] = tuple(backbone(torch.rand(1, 3, size, size)).shape)
    print(size, "px ->", shapes[size])

# %% [markdown]
# ## Your own mixer
#
# A mixer is any module that maps `(B, h, w, C)` to itself. Registered once with `at.register_mixer`, it can be
# built by name wherever the library takes a mixer's name (`build_mixer`, `Block`, `VisionBackbone`). The
# simplest global mixer gives every token the mean of all tokens:

# %%
@at.register_mixer("mean")
def mean_mixer(dim, *, grid_size=None):
    class MeanMixer(torch.nn.Module):
        def forward(self, x):  # (B, h, w, C) -> (B, h, w, C)
            return x.mean(dim=(1, 2), keepdim=True).expand_as(x)
    return MeanMixer()


backbone = at.VisionBackbone(dim=64, depth=2, mixer="mean", img_size=IMG_SIZE).eval()
with torch.no_grad():
    out = backbone(image[None])
print(f"'mean' in the registry: {'mean' in at.available_mixers()}; backbone output {tuple(out.shape)}, "
      f"{sum(p.numel() for p in backbone.parameters()):,d} parameters (the mixer has none)")

# %% [markdown]
# ## What you learned
#
# The numbers below are this run's:

# %%
print("- every mixer maps (B, h, w, C) to itself; parameters of one mixer at C = 64 on a 16x16 grid: "
      + ", ".join(f"{name} {n:,d}" for name, n in mixer_params.items()))
print(f"- AFNO's {mixer_params['afno']:,d} = 4C^2/k + 4C do not depend on the grid; GFN's filter and FNO's "
      "per-mode matrices do")
print(f"- a 2-block backbone, width 64, patch 4, at {IMG_SIZE} px: "
      + ", ".join(f"{name} {n:,d}" for name, n in sizes.items()) + " parameters")
print("- one backbone runs on any multiple of the patch size: "
      + ", ".join(f"{s} px -> {shape[1]}x{shape[2]} tokens" for s, shape in shapes.items()))
print("- a new mixer is a module plus one decorator, @at.register_mixer(name)")

# %% [markdown]
# ## Where next
# - **01** the FFT as a global convolution, the `rfft2` layout, GFN's filter written out, and what mode truncation
#   keeps;
# - **02** from FNO to AFNO, one change at a time, each written out and measured over several seeds;
# - **03** frequency sparsity, how each mixer mixes tokens, and why AFNO is not shift-equivariant;
# - **04** how time and memory grow with the number of tokens, for every mixer, on a CPU and on a GPU;
# - **05** few-shot segmentation end to end.
#
# ## Exercises
# 1. Build an AFNO mixer with `num_blocks=4` and `hidden_size_factor=2` for `dim=64`. How many parameters does
#    it have? Check the formula $4C^2f/k + 2Cf + 2C$.
#
# <details><summary>Solution</summary>
#
# ```python
# m = at.AFNO2d(64, num_blocks=4, hidden_size_factor=2)
# sum(p.numel() for p in m.parameters()), 4 * 64**2 * 2 // 4 + 2 * 64 * 2 + 2 * 64   # both 8576
# ```
# </details>
#
# 2. What happens if you feed the backbone a 30x30 image with `patch_size=4`? Why is that the right behaviour?
#
# <details><summary>Solution</summary>
#
# ```python
# try:
#     at.VisionBackbone(dim=64, depth=2, mixer="afno", img_size=IMG_SIZE)(torch.rand(1, 3, 30, 30))
# except ValueError as error:
#     print(error)
# ```
# A `ValueError` saying that the image size is not divisible by `patch_size=4`: patches must tile the image;
# silently cropping would change the input.
# </details>
#
# 3. The `mean` mixer above mixes globally at cost $O(NC)$, cheaper than any Fourier mixer. What can it not do
#    that a global filter can? (Hint: what does it give two tokens at different places?)
#
# <details><summary>Solution</summary>
#
# It gives **every** token the same vector, so after the mixer no token knows anything about *where* the others
# are: it is a global filter that keeps only the DC bin ($k = 0$) of the spectrum. GFN, FNO and AFNO keep many
# frequencies, so the output at a token depends on the input's layout around it (notebook 01, section 3;
# notebook 03 draws these maps).
# </details>
