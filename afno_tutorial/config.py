"""Run-time settings shared by the library and the notebooks: fast mode, device choice, seeding, versions."""

from __future__ import annotations

import os
import platform
import random
from pathlib import Path

import numpy as np
import torch

from ._version import __version__

FAST_ENV = "AFNO_TUTORIAL_FAST"


def fast_mode() -> bool:
    """True when ``AFNO_TUTORIAL_FAST`` is set to ``1``/``true``/``yes``.

    The notebooks read this to shrink sizes and steps so that CI can execute them in seconds; the default
    (unset) is the full setting a reader runs.
    """
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def device(prefer: str | None = None) -> torch.device:
    """The device to run on: ``prefer`` if given, else CUDA when available, else CPU."""
    if prefer is not None:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device: 'cuda' was requested but torch.cuda.is_available() is False")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); returns a ``torch.Generator`` seeded the same way."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def versions() -> dict[str, str]:
    """Versions of Python, PyTorch, NumPy and this package, plus the CPU/GPU in use: print it beside results."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "afno_tutorial": __version__,
        "machine": platform.machine(),
        "processor": platform.processor() or _cpu_model() or "unknown",
        "cpu_threads": str(torch.get_num_threads()),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }
    return info


def _cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name as Linux reports it (``platform.processor()`` is empty there); ``""`` elsewhere."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model Name", "cpu model"):
            return value.strip()
    return ""


def describe_device(dev: torch.device | str | None = None) -> str:
    """A short human name for a device, for labelling measured times (e.g. ``"CPU (2 threads)"``)."""
    dev = device() if dev is None else torch.device(dev)
    if dev.type == "cuda":
        return f"CUDA {torch.cuda.get_device_name(dev)}"
    return f"CPU ({torch.get_num_threads()} threads, {platform.machine()})"
