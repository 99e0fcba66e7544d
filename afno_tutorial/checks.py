"""Input checks with messages that name the argument and what was expected."""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

# The mask label of pixels that no loss or metric counts (unlabelled or void), as in Pascal VOC and Cityscapes.
IGNORE_INDEX = 255


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value}")
    return value


def check_pair(value: object, name: str, *, square: bool = True, axes: str = "(h, w)",
               what: str = "sizes") -> tuple[int, int]:
    """A pair of positive ints ``axes`` (``what`` they count, for the message), or with ``square`` one int meaning
    both."""
    if square and isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError(f"{name}: expected {'an int or ' if square else ''}a pair of ints {axes}, got {value!r}")
    if min(value) < 1:
        raise ValueError(f"{name}: expected positive {what}, got {tuple(value)}")
    return int(value[0]), int(value[1])


def check_real_float_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{name}: expected a real floating-point tensor, got dtype {x.dtype}")
    return x


def check_tokens(x: object, dim: int, name: str = "x") -> torch.Tensor:
    """Check a token grid ``x: (B, H, W, C)`` with ``C == dim``, real floating point."""
    x = check_real_float_tensor(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected 4 dimensions (B, H, W, C), got shape {tuple(x.shape)}")
    if x.shape[-1] != dim:
        raise ValueError(f"{name}: expected {dim} channels in the last dimension (B, H, W, C), got {x.shape[-1]}")
    if min(x.shape[1:3]) < 1:
        raise ValueError(f"{name}: expected a non-empty grid, got shape {tuple(x.shape)}")
    return x


def check_images(x: object, in_chans: int, patch_size: int, name: str = "images") -> torch.Tensor:
    """Check images ``(B, C, H, W)`` with ``C == in_chans`` and ``H, W`` divisible by ``patch_size``."""
    x = check_real_float_tensor(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name}: expected 4 dimensions (B, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[1] != in_chans:
        raise ValueError(f"{name}: expected {in_chans} channels (B, C, H, W), got {x.shape[1]}")
    h, w = x.shape[-2:]
    if h % patch_size or w % patch_size:
        raise ValueError(
            f"{name}: image size {h}x{w} is not divisible by patch_size={patch_size}; "
            f"expected H and W to be multiples of {patch_size}"
        )
    return x


def check_float(
    value: object, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in ``[low, high]`` (``low_open``/``high_open`` exclude the end); NaN and inf refused."""
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    bounds = " and ".join(part for part in (lo, hi) if part)
    expected = f"a finite float {bounds}" if bounds else "a finite float"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected {expected}, got {type(value).__name__}")
    value = float(value)
    if _out_of_bounds(value, low, high, low_open, high_open):
        raise ValueError(f"{name}: expected {expected}, got {value}")
    return value


def _out_of_bounds(value: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> bool:
    """Whether ``value`` is NaN, infinite or outside ``[low, high]`` (an end excluded where it is open)."""
    return (
        (isinstance(value, float) and not math.isfinite(value))
        or (low is not None and (value <= low if low_open else value < low))
        or (high is not None and (value >= high if high_open else value > high))
    )


def argparse_number(kind: type[int] | type[float], what: str, *, low: float | None = None, high: float | None = None,
                    low_open: bool = False, high_open: bool = False) -> Callable[[str], int | float]:
    """An argparse ``type`` for the command lines: ``kind(text)`` if it is finite and in ``[low, high]``
    (``low_open``/``high_open`` exclude the end), else an ``argparse.ArgumentTypeError`` ``expected a <what>, got
    '<text>'``, which argparse prints after the argument's name and exits with status 2."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if _out_of_bounds(value, low, high, low_open, high_open):
            raise argparse.ArgumentTypeError(f"expected a {what}, got {text!r}")
        return value

    return parse


def check_writable_folder(folder: str | Path, name: str) -> Path:
    """``folder`` as a :class:`~pathlib.Path`, created if missing, once a file could be written in it (command lines
    call this before any work, so a long run never ends unable to save). The ``ValueError`` names ``name`` and
    carries the ``OSError`` as its cause."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"{name}: expected a folder that can be written, cannot write to {folder} "
                         f"({error.strerror or error})") from error
    return folder
