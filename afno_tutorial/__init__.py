"""afno-tutorial: the Adaptive Fourier Neural Operator (AFNO) token mixer, built from FNO step by step.

Public API::

    from afno_tutorial import AFNO2d, SpectralConv2d, GlobalFilter2d, SelfAttention2d, build_mixer, register_mixer
    from afno_tutorial import VisionBackbone, SegmentationModel, InpaintingModel
"""

from . import spectral
from ._version import __version__
from .config import describe_device, device, fast_mode, seed_everything, versions
from .masking import masked_mse, random_patch_mask
from .mixers import (
    AFNO2d,
    GlobalFilter2d,
    SelfAttention2d,
    SpectralConv2d,
    available_mixers,
    build_mixer,
    register_mixer,
    unregister_mixer,
)
from .models import Block, InpaintingModel, PatchEmbed, SegmentationModel, VisionBackbone

__all__ = [
    "__version__",
    "AFNO2d",
    "Block",
    "GlobalFilter2d",
    "InpaintingModel",
    "PatchEmbed",
    "SegmentationModel",
    "SelfAttention2d",
    "SpectralConv2d",
    "VisionBackbone",
    "available_mixers",
    "build_mixer",
    "describe_device",
    "device",
    "fast_mode",
    "masked_mse",
    "random_patch_mask",
    "register_mixer",
    "seed_everything",
    "spectral",
    "unregister_mixer",
    "versions",
]
