"""Few-shot segmentation after inpainting pretraining: the paper's first segmentation experiment.

``protocol`` (support sets, heads on pretrained backbones, mIoU over seeds, the 1024x1024 demo) and ``pretrain``
(the shipped backbones). Command lines: ``python -m afno_tutorial.fewshot`` (:mod:`afno_tutorial.fewshot.cli`, the
only module here that draws; not imported here) and ``python -m afno_tutorial.pretrain``. The mixers are the
registered ones (:func:`afno_tutorial.mixers.available_mixers`).
"""

from . import pretrain
from .pretrain import load_pretrained, pretrain_backbone
from .protocol import (
    attention_at_scale,
    attention_matrix_bytes,
    compare,
    format_table,
    get_backbone,
    make_task,
    predict_masks,
    run_fewshot,
    save_results,
    segment_large,
    summarise,
    support_set,
    time_forward,
    time_train_step,
)

__all__ = [
    "attention_at_scale",
    "attention_matrix_bytes",
    "compare",
    "format_table",
    "get_backbone",
    "load_pretrained",
    "make_task",
    "predict_masks",
    "pretrain",
    "pretrain_backbone",
    "run_fewshot",
    "save_results",
    "segment_large",
    "summarise",
    "support_set",
    "time_forward",
    "time_train_step",
]
