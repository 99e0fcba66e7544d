"""Few-shot segmentation after self-supervised pretraining: the paper's first segmentation experiment, measured.

``targets`` (texture statistics of patches) and ``decoder`` (the masked autoencoder with a light decoder) make the
backbones; ``pretrain`` (the shipped backbones); ``features`` (tokens of several blocks) and ``heads`` (the pixel
classifier, frozen or fine-tuned); ``protocol`` (support sets, runs over seeds, the 1024x1024 demo); ``report``
(tables, the pretraining gain, conclusions, result files). Command lines: ``python -m afno_tutorial.fewshot``
(:mod:`afno_tutorial.fewshot.cli`, the only module here that draws; not imported here) and
``python -m afno_tutorial.pretrain``. The mixers are the registered ones
(:func:`afno_tutorial.mixers.available_mixers`).
"""

from . import pretrain
from .decoder import MaskedAutoencoder, evaluate_masked
from .features import block_tokens, extract_features
from .heads import FewShotSegmenter, PixelHead, fit_finetune, fit_frozen, predict
from .pretrain import load_pretrained, pretrain_backbone
from .protocol import (
    MIN_EVAL_IMAGES,
    attention_at_scale,
    attention_matrix_bytes,
    check_settings,
    evaluate,
    get_backbone,
    make_task,
    run_fewshot,
    segment_large,
    segment_large_set,
    support_set,
    time_forward,
    time_train_step,
)
from .report import (
    compare,
    conclusions,
    format_gain,
    format_table,
    load_results,
    pretraining_gain,
    save_results,
    summarise,
)
from .targets import filter_bank, texture_energy

__all__ = [
    "MIN_EVAL_IMAGES",
    "FewShotSegmenter",
    "MaskedAutoencoder",
    "PixelHead",
    "attention_at_scale",
    "attention_matrix_bytes",
    "block_tokens",
    "check_settings",
    "compare",
    "conclusions",
    "evaluate",
    "evaluate_masked",
    "extract_features",
    "filter_bank",
    "fit_finetune",
    "fit_frozen",
    "format_gain",
    "format_table",
    "get_backbone",
    "load_pretrained",
    "load_results",
    "make_task",
    "predict",
    "pretrain",
    "pretrain_backbone",
    "pretraining_gain",
    "run_fewshot",
    "save_results",
    "segment_large",
    "segment_large_set",
    "summarise",
    "support_set",
    "texture_energy",
    "time_forward",
    "time_train_step",
]
