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
# # 06 · AFNO inside SegFormer: 65,536 tokens in the first stage
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/afno-tutorial/afno-tutorial/blob/main/notebooks/06_afno_in_segformer.ipynb)
# [![Binder](https://mybinder.org/badge_logo.svg)](https://mybinder.org/v2/gh/afno-tutorial/afno-tutorial/main?urlpath=lab/tree/notebooks/06_afno_in_segformer.ipynb)
#
# The AFNO paper's second experiment puts AFNO into SegFormer-B3 and trains it on Cityscapes: "AFNO can handle a
# sequence size of 65k". 65,536 = 256 × 256 is the token grid of SegFormer's first stage for a 1024 × 1024 crop.
# Its code was never released. Here SegFormer comes from HuggingFace `transformers` (built from its shape, nothing
# downloaded) and its attention is swapped for any of this library's mixers.
#
# **You will learn**
# - SegFormer's architecture: four stages, and where its attention sits;
# - what SegFormer's *efficient* attention gives up to be affordable (its reduction ratio), in resolution;
# - how to swap the attention of some or all stages for AFNO or GFN in one call;
# - what each mixer costs per stage (parameters, FLOPs) and in time and memory at 1024 × 1024;
# - how to train and evaluate the swapped model (SegFormer's recipe, sliding-window evaluation, mIoU), on data
#   that ships with the library, and on Cityscapes if you have it.
#
# **Prerequisites:** notebook 02 (the AFNO mixer) and notebook 04 (its cost against attention).

# %%
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "afno-tutorial[segformer] @ git+https://github.com/afno-tutorial/afno-tutorial"], check=True)

# %%
# %matplotlib inline

# %% [markdown]
# ## Settings
#
# The **fast** setting (`AFNO_TUTORIAL_FAST=1`, what CI runs) shrinks every run to seconds and its numbers mean
# nothing; the **default** setting takes a few minutes on a 2-core CPU. Set `CITYSCAPES_DATASET` to your
# Cityscapes folder before starting the notebook to run section 6 on it.

# %%
import os
import tempfile
from pathlib import Path

import torch
from IPython.display import Markdown, display

from afno_tutorial import config
from afno_tutorial.data import Cityscapes, SegFormerAugment, SegmentationPairs, make_segmentation_set
from afno_tutorial.data import write_synthetic_cityscapes
from afno_tutorial.data.cityscapes import class_colours
from afno_tutorial.segformer import VARIANTS, build_segformer, evaluate_segformer, segformer_config, stage_grids
from afno_tutorial.segformer import attention_slots, mixer_names, sliding_window_logits, swap_mixers, train_segformer
from afno_tutorial.segformer import costs
from afno_tutorial.viz import segformer as viz

FAST, DEVICE = config.fast_mode(), config.device()
S = dict(
    size=96 if FAST else 256,       # procedural scenes: image size
    crop=64 if FAST else 128,       # training crop
    images=8 if FAST else 64,       # training images
    test_images=2 if FAST else 8,
    steps=3 if FAST else 200,
    batch=2 if FAST else 4,
    city_steps=2 if FAST else 100,
    city_crop=64 if FAST else 256,
)
config.seed_everything(0)
print(config.describe_device(DEVICE), "| fast" if FAST else "")
print(config.versions())

# %% [markdown]
# ## 1 · SegFormer in one picture
#
# A strided, overlapping convolution turns the image into tokens at 1/4 of its resolution; three more shrink the
# grid by 2 each time while widening the channels. Each stage repeats one layer: attention, then a *Mix-FFN* (an
# MLP with a 3 × 3 depth-wise convolution, SegFormer's only positional information). An all-MLP decoder brings
# every stage to 1/4 resolution and classifies each pixel. The sizes B0-B5 differ in width and depth only:

# %%
sizes = {name: sum(p.numel() for p in build_segformer(name).parameters()) for name in VARIANTS}  # ~5 s on a CPU
display(Markdown("| variant | layers per stage | channels per stage | decoder channels | parameters (19 classes) |\n"
                 "|---|---|---|---:|---:|\n" + "\n".join(
    f"| {name.upper()} | {v.depths} | {v.hidden_sizes} | {v.decoder_hidden_size} | {sizes[name] / 1e6:.1f} M |"
    for name, v in VARIANTS.items())))
b3 = segformer_config("b3")
viz.plot_architecture(b3, 1024, title="SegFormer-B3 on a 1024 × 1024 crop")

# %% [markdown]
# ## 2 · Where attention sits, and what its reduction ratio costs in resolution
#
# Full attention in stage 1 would compare each of 65,536 tokens with every other: 4.3 billion scores per head and
# layer. SegFormer avoids this by pooling the keys and values with an R × R convolution of stride R (its
# *reduction ratio*: 8, 4, 2, 1 in stages 1-4). Queries keep the full grid; what they can look at is a grid R
# times coarser on each axis. For a 1024 × 1024 crop every stage ends up attending to the same 32 × 32 grid:

# %%
grids = stage_grids(1024, b3)
display(Markdown("| stage | tokens (queries) | keys and values | tokens pooled into one key | pixels per key |\n"
                 "|---|---:|---:|---:|---:|\n" + "\n".join(
    f"| {s + 1} | {h} × {w} = {h * w:,} | {h // r} × {w // r} = {(h // r) * (w // r):,} | {r * r} | "
    f"{(1024 // (h // r))} × {(1024 // (w // r))} |" for s, ((h, w), r) in enumerate(zip(grids, b3.sr_ratios)))))

# %%
from skimage import data as skdata

photo = torch.from_numpy(skdata.astronaut()).permute(2, 0, 1).float() / 255
photo = torch.nn.functional.interpolate(photo[None], size=(1024, 1024), mode="bilinear", align_corners=False)[0]
viz.plot_reduction(photo, grids, list(b3.sr_ratios))

# %% [markdown]
# The top row is what each stage computes on; the bottom row is all its attention can tell apart. AFNO and GFN
# mix all tokens of the top row through the Fourier transform, with nothing pooled.
#
# ## 3 · The swap in one call
#
# `build_segformer(variant, mixer=...)` builds the model with a mixer in the attention slots of the chosen stages
# (all by default); `swap_mixers(model, mixer, stages)` does the same to a model you already have. A small adapter
# views SegFormer's tokens `(B, N, C)` as the grid `(B, H, W, C)` every mixer of this library takes; the layer
# keeps its norm, its residual and its Mix-FFN.

# %%
afno_b3 = build_segformer("b3", mixer="afno")                      # AFNO in every stage
gfn_stage1 = swap_mixers(build_segformer("b3"), "gfn", stages=[1])  # GFN in stage 1 only
print(mixer_names(afno_b3))
print(mixer_names(gfn_stage1))
print(attention_slots(afno_b3)[0].layer)

# %% [markdown]
# ## 4 · Parameters and FLOPs per stage
#
# The same B3 with each mixer: in stage 1 only, or in every stage; *full attention* is SegFormer's own attention
# with reduction ratio 1. FLOPs are theoretical, forward, for one 1024 × 1024 image (matrix products and
# convolutions as PyTorch's FLOP counter counts them on a meta-device copy, and each mixer's own formula).

# %%
cost = {name: costs.model_costs(costs.build_configuration(name, "b3", 1024), 1024) for name in costs.CONFIGURATIONS}
display(Markdown("| configuration | parameters | stage-1 mixer parameters | stage-1 mixer GFLOPs | model GFLOPs |\n"
                 "|---|---:|---:|---:|---:|\n" + "\n".join(
    f"| {name} | {c['params'] / 1e6:.1f} M | {c['stages'][0]['mixer_params']:,} | "
    f"{c['stages'][0]['mixer_flops'] / 1e9:.1f} | {c['flops'] / 1e9:.0f} |" for name, c in cost.items())))
viz.plot_stage_costs(cost)

# %%
eff, full, afno1 = (cost[n] for n in ("efficient attention", "full attention, stage 1", "AFNO, stage 1"))
print(f"stage 1, efficient attention: {eff['stages'][0]['mixer_flops'] / 1e9:.1f} GFLOPs; full attention: "
      f"{full['stages'][0]['mixer_flops'] / 1e9:.0f} GFLOPs ({full['stages'][0]['mixer_flops'] / eff['stages'][0]['mixer_flops']:.0f}x); "
      f"AFNO: {afno1['stages'][0]['mixer_flops'] / 1e9:.2f} GFLOPs ({eff['stages'][0]['mixer_flops'] / afno1['stages'][0]['mixer_flops']:.0f}x fewer than efficient attention)")
print(f"the decode head alone: {eff['decode_head']['flops'] / 1e9:.0f} GFLOPs "
      f"({100 * eff['decode_head']['flops'] / eff['flops']:.0f} % of the efficient model)")

# %% [markdown]
# GFN's filter has one complex weight per frequency and channel, so its parameters grow with the grid (a
# 256 × 129 × 64 filter per layer in stage 1); AFNO's weights are shared by all frequencies.
#
# ## 5 · What 65,536 tokens cost, measured
#
# One forward pass and one training step (forward, loss, backward, AdamW) of SegFormer-B3 on one 1024 × 1024
# image, each configuration in a fresh process, by `python -m afno_tutorial.segformer.costs` (the command and
# machine are saved with the results in `benchmarks/segformer/`, which ship with the repository).

# %%
measured_file = next((d / "segformer" / "cpu_2threads.json" for d in (Path("../benchmarks"), Path("benchmarks"))
                      if (d / "segformer" / "cpu_2threads.json").exists()), None)
if measured_file is None:
    measured = None
    print("benchmarks/segformer/cpu_2threads.json ships with the repository, not with the pip package: clone it")
else:
    import json

    measured = json.loads(measured_file.read_text())
    print("\n".join(measured["commands"]))
    print(measured["device"], "| transformers", measured["transformers"], "| torch", measured["versions"]["torch"])
    display(Markdown(costs.table(measured)))
    display(viz.plot_measured_costs(measured))

# %% [markdown]
# ## 6 · Training: SegFormer's recipe on scenes that ship with the library
#
# `train_segformer` follows SegFormer's Cityscapes recipe (AdamW, the decode head at 10 × the learning rate, a
# linear warm-up then a poly decay, random rescaling 0.5-2 ×, crops, flips, photometric distortion) and
# `evaluate_segformer` segments whole images with overlapping windows, as SegFormer is tested. A CPU affords
# SegFormer-B0 on the procedural texture scenes of notebook 05, at 256 × 256 with 128 × 128 crops, trained from
# scratch with a higher learning rate than the recipe's (which assumes an ImageNet-pretrained encoder). Two
# models, the same in everything but the mixer:

# %%
scenes = make_segmentation_set(S["images"] + S["test_images"], size=S["size"], seed=6, split="novel")
train_set = SegmentationPairs(scenes.images[: S["images"]], scenes.masks[: S["images"]], scenes.class_names,
                              SegFormerAugment(S["crop"]))
test_set = SegmentationPairs(scenes.images[S["images"]:], scenes.masks[S["images"]:], scenes.class_names)
trained, histories, scores = {}, {}, {}
for mixer in ("attention", "afno"):
    config.seed_everything(0)
    model = build_segformer("b0", num_labels=len(scenes.class_names), mixer=mixer, image_size=S["crop"])
    histories[mixer] = train_segformer(model, train_set, steps=S["steps"], batch_size=S["batch"], lr=1e-3,
                                       warmup=S["steps"] // 10, device=DEVICE)
    scores[mixer] = evaluate_segformer(model, test_set, crop=S["crop"], stride=S["crop"] * 3 // 4, device=DEVICE)
    trained[mixer] = model
display(Markdown("| mixer | parameters | s / step | final loss (mean of last 20) | test mIoU | pixel accuracy |\n"
                 "|---|---:|---:|---:|---:|---:|\n" + "\n".join(
    f"| {m} | {sum(p.numel() for p in trained[m].parameters()):,} | {histories[m]['seconds_per_step']:.3f} | "
    f"{sum(histories[m]['loss'][-20:]) / len(histories[m]['loss'][-20:]):.3f} | {100 * scores[m]['miou']:.1f} % | "
    f"{100 * scores[m]['pixel_accuracy']:.1f} % |" for m in trained)))

# %%
with torch.no_grad():
    predictions = {m: sliding_window_logits(trained[m].to(DEVICE).eval(), test_set.images.to(DEVICE), S["crop"],
                                            S["crop"] * 3 // 4).argmax(1).cpu() for m in trained}  # fmt: skip
viz.plot_label_predictions(test_set.images, test_set.masks, predictions, scenes.class_names, n=3)

# %% [markdown]
# ### The same on Cityscapes
#
# With `CITYSCAPES_DATASET` set to a folder holding `leftImg8bit/` and `gtFine/` (register on the Cityscapes
# website and unpack `leftImg8bit_trainvaltest.zip` and `gtFine_trainvaltest.zip`; nothing is downloaded for you),
# the cell below trains on its train split and evaluates on val. Without it, it writes a few synthetic street
# scenes in the same layout, with the same label ids (ignored ones included), so the code path is the same.

# %%
root = os.environ.get("CITYSCAPES_DATASET")
synthetic = root is None
if synthetic:
    root = write_synthetic_cityscapes(Path(tempfile.mkdtemp()) / "cityscapes", {"train": 8, "val": 2},
                                      size=(128, 256) if FAST else (256, 512))
    print("no CITYSCAPES_DATASET: synthetic street scenes in the Cityscapes layout at", root)
city_train = Cityscapes(root, "train", crop_size=S["city_crop"])
city_val = Cityscapes(root, "val", limit=2 if synthetic else 20)
print(city_train, city_val, sep="\n")
config.seed_everything(0)
city_model = build_segformer("b0", mixer="afno", image_size=S["city_crop"])
city_history = train_segformer(city_model, city_train, steps=S["city_steps"], batch_size=2, lr=1e-3,
                               warmup=S["city_steps"] // 10, device=DEVICE)
city_score = evaluate_segformer(city_model, city_val, crop=S["city_crop"], stride=S["city_crop"] * 3 // 4,
                                device=DEVICE)
print(f"{S['city_steps']} steps: val mIoU {100 * city_score['miou']:.1f} % over the classes present, "
      f"pixel accuracy {100 * city_score['pixel_accuracy']:.1f} %")
frames = [city_val.load(i) for i in range(2)]
images, masks = torch.stack([f[0] for f in frames]), torch.stack([f[1] for f in frames])
with torch.no_grad():
    pred = sliding_window_logits(city_model.to(DEVICE).eval(), images.to(DEVICE), S["city_crop"],
                                 S["city_crop"] * 3 // 4).argmax(1).cpu()
viz.plot_label_predictions(images, masks, {"AFNO (B0)": pred}, city_train.class_names, class_colours(), n=2)

# %% [markdown]
# The paper's experiment is the same command at full scale, on a GPU (SegFormer's recipe: B3, 1024 × 1024 crops,
# batch 8, 160,000 steps; the run resumes exactly where it stopped if interrupted):
#
# ```bash
# python -m afno_tutorial.cityscapes train --root $CITYSCAPES_DATASET --variant b3 --mixer afno --crop 1024 \
#     --device cuda --out runs/b3-afno --eval
# python -m afno_tutorial.cityscapes eval --root $CITYSCAPES_DATASET --checkpoint runs/b3-afno/checkpoint.pt
# ```
#
# SegFormer's own B3 reaches about 81.7 % mIoU on Cityscapes val this way starting from an ImageNet-pretrained
# encoder; this library builds the encoder from scratch (no weights are downloaded), so expect less unless you
# load pretrained weights into the layers that stay.

# %% [markdown]
# ## What you learned

# %%
lines = [
    f"- A 1024 × 1024 crop gives SegFormer-B3's first stage {grids[0][0] * grids[0][1]:,} tokens; its efficient "
    f"attention lets them see only {(grids[0][0] // 8) * (grids[0][1] // 8):,} pooled keys (reduction 8), the same "
    f"32 × 32 grid as every other stage.",
    f"- Full attention in stage 1 would cost {full['stages'][0]['mixer_flops'] / 1e9:.0f} GFLOPs per image, "
    f"{full['stages'][0]['mixer_flops'] / eff['stages'][0]['mixer_flops']:.0f}x the efficient attention's "
    f"{eff['stages'][0]['mixer_flops'] / 1e9:.1f}; AFNO needs {afno1['stages'][0]['mixer_flops'] / 1e9:.2f} GFLOPs "
    f"and {afno1['stages'][0]['mixer_params']:,} parameters there (efficient attention: "
    f"{eff['stages'][0]['mixer_params']:,}), with nothing pooled.",
    f"- With AFNO in every stage B3 has {cost['AFNO, all stages']['params'] / 1e6:.1f} M parameters and "
    f"{cost['AFNO, all stages']['flops'] / 1e9:.0f} GFLOPs against {eff['params'] / 1e6:.1f} M and "
    f"{eff['flops'] / 1e9:.0f}; the decode head's {eff['decode_head']['flops'] / 1e9:.0f} GFLOPs do not change.",
    f"- On the procedural scenes, B0 reached {100 * scores['afno']['miou']:.1f} % test mIoU with AFNO and "
    f"{100 * scores['attention']['miou']:.1f} % with its own attention after {S['steps']} steps, at "
    f"{histories['afno']['seconds_per_step']:.3f} and {histories['attention']['seconds_per_step']:.3f} s per step "
    f"on {config.describe_device(DEVICE)} (one seed: differences of a few points are noise).",
]
if measured is not None:
    rows = {(r["configuration"], r["mode"]): r for r in measured["rows"] if r["image_size"] == 1024}
    fmt = lambda r: f"{r['time_s']:.2f} s" if r["status"] == "measured" else f"~{r['estimate_s']:.0f} s (predicted)"  # noqa: E731
    lines.append(f"- Measured at 1024 × 1024 ({measured['device']}): a B3 training step takes "
                 f"{fmt(rows[('efficient attention', 'train')])} with efficient attention, "
                 f"{fmt(rows[('AFNO, stage 1', 'train')])} with AFNO in stage 1 and "
                 f"{fmt(rows[('full attention, stage 1', 'train')])} with full attention in stage 1.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Exercises
#
# 1. Swap only stage 3 (18 of B3's 28 layers) for AFNO. How many parameters and FLOPs does that save?
#
# <details><summary>Solution</summary>
#
# ```python
# stage3 = costs.model_costs(build_segformer("b3", mixer="afno", stages=[3]), 1024)
# print(eff["params"] - stage3["params"], (eff["flops"] - stage3["flops"]) / 1e9)
# ```
# Stage 3's attention has reduction 2 on a 64 × 64 grid: its key and value projections and the 2 × 2 reduction
# convolution hold most of B3's attention parameters (18 layers of width 320).
# </details>
#
# 2. At what crop size would stage 1's *efficient* attention cost as much as AFNO in every stage?
#
# <details><summary>Solution</summary>
#
# ```python
# for size in (512, 1024, 2048):
#     e = costs.model_costs(build_segformer("b0"), size)["stages"][0]["mixer_flops"]
#     a = costs.model_costs(build_segformer("b0", mixer="afno"), size)["stages"][0]["mixer_flops"]
#     print(size, e / a)
# ```
# Efficient attention still grows as N · N / 64 (both queries and pooled keys grow with the image), AFNO as
# N log N: the ratio grows with the crop.
# </details>
#
# 3. Try GFN at a crop other than the one it was built for: its filter is resized, AFNO's weights are not.
#
# <details><summary>Solution</summary>
#
# ```python
# gfn = build_segformer("b0", mixer="gfn", image_size=128)
# print(gfn(torch.randn(1, 3, 256, 256)).logits.shape)   # the 32 x 17 filter is interpolated to 64 x 33
# ```
# </details>
