"""SegFormer (HuggingFace ``transformers``) built offline, with its attention swapped for any registered token mixer.

SegFormer's encoder has four stages; stage ``s`` embeds its input with an overlapping strided convolution (stride 4,
then 2, 2, 2) and runs ``depths[s]`` layers ``x = x + attention(norm(x))``, ``x = x + MixFFN(norm(x))``. Its
attention is *efficient*: keys and values come from a grid shrunk ``sr_ratio`` times on each axis by a strided
convolution (8, 4, 2, 1), so stage 1 of a 1024x1024 crop attends from 65,536 queries to only 1,024 keys.

:func:`swap_mixers` puts a :class:`MixerAdapter` into the attention slot of the chosen stages: the layer keeps its
norm, residual, drop-path and MixFFN, and the mixer sees the full token grid ``(B, H, W, C)``. Works with
``transformers`` 4.x (slots at ``model.segformer.encoder.block[s][j].attention``) and 5.x
(``model.segformer.stages[s].blocks[j].attention``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
from torch import nn

from ..checks import check_pair, check_positive_int
from ..mixers import available_mixers, build_mixer

NUM_STAGES = 4


@dataclass(frozen=True)
class Variant:
    """The shape of one SegFormer size (Xie et al., NeurIPS 2021, Table 6 and the released configurations)."""

    depths: tuple[int, int, int, int]
    hidden_sizes: tuple[int, int, int, int]
    decoder_hidden_size: int
    num_attention_heads: tuple[int, int, int, int] = (1, 2, 5, 8)
    sr_ratios: tuple[int, int, int, int] = (8, 4, 2, 1)
    patch_sizes: tuple[int, int, int, int] = (7, 3, 3, 3)
    strides: tuple[int, int, int, int] = (4, 2, 2, 2)
    mlp_ratios: tuple[int, int, int, int] = (4, 4, 4, 4)


_WIDE = (64, 128, 320, 512)
VARIANTS: dict[str, Variant] = {
    "b0": Variant((2, 2, 2, 2), (32, 64, 160, 256), 256),
    "b1": Variant((2, 2, 2, 2), _WIDE, 256),
    "b2": Variant((3, 4, 6, 3), _WIDE, 768),
    "b3": Variant((3, 4, 18, 3), _WIDE, 768),
    "b4": Variant((3, 8, 27, 3), _WIDE, 768),
    "b5": Variant((3, 6, 40, 3), _WIDE, 768),
}


def _transformers():
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "afno_tutorial.segformer needs HuggingFace transformers: pip install 'afno-tutorial[segformer]'"
        ) from exc
    return transformers


def segformer_config(variant: str = "b3", num_labels: int = 19, sr_ratios: Iterable[int] | None = None, **overrides):
    """A ``transformers.SegformerConfig`` of ``variant`` (``"b0"`` .. ``"b5"``), built offline.

    Args:
        variant: SegFormer size.
        num_labels: output classes (19 for Cityscapes); the loss ignores label 255.
        sr_ratios: the four reduction ratios of the efficient attention (default ``8, 4, 2, 1``); ``1`` in a stage
            makes its attention full (every query attends to every token).
        **overrides: any other ``SegformerConfig`` field (e.g. ``drop_path_rate``).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {sorted(VARIANTS)}, got {variant!r}")
    check_positive_int(num_labels, "num_labels")
    shape = VARIANTS[variant]
    ratios = shape.sr_ratios if sr_ratios is None else tuple(sr_ratios)
    if len(ratios) != NUM_STAGES or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in ratios):
        raise ValueError(f"sr_ratios: expected {NUM_STAGES} positive ints, got {sr_ratios!r}")
    fields = dict(
        num_encoder_blocks=NUM_STAGES, depths=list(shape.depths), hidden_sizes=list(shape.hidden_sizes),
        decoder_hidden_size=shape.decoder_hidden_size, num_attention_heads=list(shape.num_attention_heads),
        sr_ratios=list(ratios), patch_sizes=list(shape.patch_sizes), strides=list(shape.strides),
        mlp_ratios=list(shape.mlp_ratios), num_labels=num_labels, semantic_loss_ignore_index=255,
    )  # fmt: skip
    fields.update(overrides)
    return _transformers().SegformerConfig(**fields)


def build_segformer(
    variant: str = "b3",
    num_labels: int = 19,
    mixer: str = "attention",
    *,
    stages: Iterable[int] | None = None,
    image_size: int | tuple[int, int] = 1024,
    sr_ratios: Iterable[int] | None = None,
    config_overrides: dict | None = None,
    **mixer_kwargs,
) -> nn.Module:
    """A randomly initialised ``SegformerForSemanticSegmentation`` with ``mixer`` in the attention slots.

    Nothing is downloaded: the model is built from :data:`VARIANTS` ``[variant]``.

    Args:
        variant: ``"b0"`` .. ``"b5"``.
        num_labels: classes of the decode head.
        mixer: ``"attention"`` keeps SegFormer's own efficient attention; any other registered mixer name
            (``"afno"``, ``"gfn"``, ``"fno"``, ...) replaces it in ``stages`` (see :func:`swap_mixers`).
        stages: stage numbers 1-4 to swap (all by default).
        image_size: the crop the model trains on: sets the token grid each mixer is built for.
        sr_ratios: reduction ratios of the attention that stays (``(1, 4, 2, 1)``: full attention in stage 1).
        config_overrides: other ``SegformerConfig`` fields.
        **mixer_kwargs: the mixer's constructor arguments.

    Returns:
        the model (``model(pixel_values).logits``: ``(B, num_labels, H/4, W/4)``).
    """
    config = segformer_config(variant, num_labels, sr_ratios, **(config_overrides or {}))
    model = _transformers().SegformerForSemanticSegmentation(config)
    if mixer != "attention":
        swap_mixers(model, mixer, stages=stages, image_size=image_size, **mixer_kwargs)
    elif stages is not None or mixer_kwargs:
        raise ValueError("mixer: 'attention' keeps SegFormer's attention, so stages and mixer arguments do nothing; "
                         f"got stages={stages!r}, {sorted(mixer_kwargs)}")
    return model


class MixerAdapter(nn.Module):
    """A token mixer in SegFormer's attention slot: tokens ``(B, N, C)`` with ``height, width`` in, ``(B, N, C)`` out.

    SegFormer's tokens are the grid flattened row by row, so ``(B, N, C)`` is viewed as ``(B, H, W, C)`` for the
    mixer and back. Returns ``(tokens, None)``: the mixed tokens and no attention weights, the tuple SegFormer's
    layer unpacks. The mixer returns the mixed tokens only; the layer adds the residual.
    """

    def __init__(self, mixer: nn.Module, name: str) -> None:
        super().__init__()
        if not isinstance(mixer, nn.Module):
            raise TypeError(f"mixer: expected an nn.Module, got {type(mixer).__name__}")
        self.mixer = mixer
        self.mixer_name = name

    def extra_repr(self) -> str:
        return f"mixer_name={self.mixer_name!r}"

    def forward(self, hidden_states: torch.Tensor, height: int, width: int, *args, **kwargs):
        if hidden_states.ndim != 3 or hidden_states.shape[1] != height * width:
            raise ValueError(
                f"hidden_states: expected (B, height*width, C) = (B, {height * width}, C), "
                f"got {tuple(hidden_states.shape)}"
            )
        batch, tokens, channels = hidden_states.shape
        mixed = self.mixer(hidden_states.reshape(batch, height, width, channels))
        return mixed.reshape(batch, tokens, channels), None


@dataclass
class Slot:
    """One attention slot: ``layer.attention`` of layer ``block`` (0-based) in ``stage`` (1-based)."""

    stage: int
    block: int
    layer: nn.Module

    @property
    def module(self) -> nn.Module:
        return self.layer.attention


def attention_slots(model: nn.Module) -> list[Slot]:
    """Every attention slot of a SegFormer (``SegformerForSemanticSegmentation`` or ``SegformerModel``), in order."""
    base = getattr(model, "segformer", model)
    if hasattr(base, "stages"):  # transformers 5.x
        stage_layers = [stage.blocks for stage in base.stages]
    elif hasattr(getattr(base, "encoder", None), "block"):  # transformers 4.x
        stage_layers = list(base.encoder.block)
    else:
        raise TypeError(f"model: expected a transformers SegFormer model, got {type(model).__name__}")
    return [Slot(s + 1, j, layer) for s, layers in enumerate(stage_layers) for j, layer in enumerate(layers)]


def _check_stages(stages: Iterable[int] | None) -> list[int]:
    if stages is None:
        return list(range(1, NUM_STAGES + 1))
    if isinstance(stages, int) and not isinstance(stages, bool):
        stages = [stages]
    chosen = list(stages)
    if not chosen or any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= NUM_STAGES for s in chosen):
        raise ValueError(f"stages: expected stage numbers in 1..{NUM_STAGES}, got {stages!r}")
    return sorted(set(chosen))


def stage_grids(image_size: int | tuple[int, int], config) -> list[tuple[int, int]]:
    """The token grid ``(h, w)`` of each stage for an ``image_size`` input (overlapping patch embeddings)."""
    height, width = check_pair(image_size, "image_size")
    grids = []
    for kernel, stride in zip(config.patch_sizes, config.strides):
        pad = kernel // 2
        height = (height + 2 * pad - kernel) // stride + 1
        width = (width + 2 * pad - kernel) // stride + 1
        grids.append((height, width))
    return grids


def swap_mixers(
    model: nn.Module,
    mixer: str,
    stages: Iterable[int] | None = None,
    *,
    image_size: int | tuple[int, int] = 1024,
    **mixer_kwargs,
) -> nn.Module:
    """Replace SegFormer's attention in ``stages`` (1-4, all by default) by the registered mixer ``mixer``, in place.

    Each new mixer has the stage's width and is built for the stage's token grid at ``image_size`` (what a
    size-dependent mixer like GFN's filter takes as its size); it is placed on the device and dtype of the module it
    replaces. Returns ``model``.
    """
    names = [name for name in available_mixers() if name != "attention"]
    if mixer == "attention":
        raise ValueError(
            "mixer: 'attention' names SegFormer's own attention, which build_segformer(mixer='attention') keeps; "
            f"swap in one of {names}, or build with sr_ratios=(1, ...) for attention without reduction"
        )
    if mixer not in names:
        raise ValueError(f"mixer: expected one of {names}, got {mixer!r}")
    chosen = _check_stages(stages)
    config = model.config
    grids = stage_grids(image_size, config)
    for slot in attention_slots(model):
        if slot.stage not in chosen:
            continue
        old = next(slot.module.parameters(), None)
        new = build_mixer(mixer, config.hidden_sizes[slot.stage - 1], grid_size=grids[slot.stage - 1], **mixer_kwargs)
        if old is not None:
            new = new.to(device=old.device, dtype=old.dtype)
        slot.layer.attention = MixerAdapter(new, mixer)
    return model


def mixer_names(model: nn.Module) -> dict[int, str]:
    """``{stage: mixer}`` with ``"attention (sr R)"`` for SegFormer's attention with reduction ratio ``R``."""
    out = {}
    for slot in attention_slots(model):
        module = slot.module
        name = module.mixer_name if isinstance(module, MixerAdapter) else f"attention (sr {attention_shape(module)[2]})"
        out.setdefault(slot.stage, name)
    return out


def attention_shape(module: nn.Module) -> tuple[int, int, int]:
    """``(channels, heads, sr_ratio)`` of a SegFormer attention module (transformers 4.x or 5.x)."""
    inner = getattr(module, "self", module)  # 4.x wraps the computation in .self
    if hasattr(inner, "sequence_reduction_ratio"):  # 5.x
        return inner.q_proj.in_features, inner.num_attention_heads, inner.sequence_reduction_ratio
    if hasattr(inner, "sr_ratio"):
        return inner.query.in_features, inner.num_attention_heads, inner.sr_ratio
    raise TypeError(f"module: expected a SegFormer attention module, got {type(module).__name__}")


@contextlib.contextmanager
def record_token_grids(model: nn.Module) -> Iterator[list[dict]]:
    """Record the token grid every attention slot sees during the forward passes inside the ``with`` block.

    Yields a list that fills with ``{"stage", "block", "height", "width", "tokens"}`` per slot call.
    """
    records: list[dict] = []
    handles = []
    for slot in attention_slots(model):

        def hook(module, args, kwargs, slot=slot):
            hidden, height, width = args[0], args[1], args[2]
            records.append({"stage": slot.stage, "block": slot.block, "height": int(height), "width": int(width),
                            "tokens": int(hidden.shape[1])})  # fmt: skip

        handles.append(slot.module.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        yield records
    finally:
        for handle in handles:
            handle.remove()


def normalize(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [0, 1] to SegFormer's input: ImageNet mean and standard deviation removed."""
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MixerAdapter",
    "NUM_STAGES",
    "Slot",
    "VARIANTS",
    "Variant",
    "attention_shape",
    "attention_slots",
    "build_segformer",
    "mixer_names",
    "normalize",
    "record_token_grids",
    "segformer_config",
    "stage_grids",
    "swap_mixers",
]
