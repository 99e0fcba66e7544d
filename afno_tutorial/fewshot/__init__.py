"""Few-shot segmentation after inpainting pretraining: the paper's first segmentation experiment.

``protocol`` (support sets, heads on pretrained backbones, mIoU over seeds, the 1024x1024 demo) and ``pretrain``
(the shipped backbones). Command lines: ``python -m afno_tutorial.fewshot`` and ``python -m afno_tutorial.pretrain``.
"""

from . import pretrain
from .pretrain import MIXERS, load_pretrained, pretrain_backbone
from .protocol import (
    attention_at_scale,
    attention_matrix_bytes,
    compare,
    fit_power_law,
    format_table,
    get_backbone,
    main,
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
    "MIXERS",
    "attention_at_scale",
    "attention_matrix_bytes",
    "compare",
    "fit_power_law",
    "format_table",
    "get_backbone",
    "load_pretrained",
    "main",
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
