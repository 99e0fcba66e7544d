"""AFNO (or any registered token mixer) inside HuggingFace's SegFormer, trained and evaluated on Cityscapes.

Needs the ``segformer`` extra (``pip install 'afno-tutorial[segformer]'``: ``transformers`` and
``cityscapesScripts``); nothing is downloaded, models are built from their shapes.

* :func:`build_segformer`, :func:`swap_mixers`, :class:`MixerAdapter`, :data:`VARIANTS` (B0-B5):
  :mod:`~afno_tutorial.segformer.model`.
* :func:`train_segformer`, :func:`evaluate_segformer`, :func:`sliding_window_logits`, :func:`poly_schedule`:
  :mod:`~afno_tutorial.segformer.engine`.
* parameters and FLOPs per stage, and what a forward and a training step cost: :mod:`~afno_tutorial.segformer.costs`
  (``python -m afno_tutorial.segformer.costs``).
* the command line: ``python -m afno_tutorial.cityscapes train|eval``.
"""

from .engine import evaluate_segformer, poly_schedule, sliding_window_logits, train_segformer
from .model import (
    VARIANTS,
    MixerAdapter,
    attention_slots,
    build_segformer,
    mixer_names,
    record_token_grids,
    segformer_config,
    stage_grids,
    swap_mixers,
)

__all__ = [
    "MixerAdapter",
    "VARIANTS",
    "attention_slots",
    "build_segformer",
    "evaluate_segformer",
    "mixer_names",
    "poly_schedule",
    "record_token_grids",
    "segformer_config",
    "sliding_window_logits",
    "stage_grids",
    "swap_mixers",
    "train_segformer",
]
