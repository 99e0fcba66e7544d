from __future__ import annotations

import platform
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from afno_tutorial import config


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(config.FAST_ENV, value)
    assert config.fast_mode() is expected


def test_seed_everything_makes_all_generators_repeat():
    config.seed_everything(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    config.seed_everything(3)
    assert first == (random.random(), np.random.rand(), torch.rand(1).item())


def test_device_and_versions():
    assert config.device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: 'cuda' was requested"):
            config.device("cuda")
    info = config.versions()
    assert info["torch"] == torch.__version__ and "afno_tutorial" in info
    assert config.describe_device("cpu").startswith("CPU (")


def test_cpu_model_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU @ 2.00GHz\nflags\t: fpu\n")
    assert config._cpu_model(cpuinfo) == "Example CPU @ 2.00GHz"
    cpuinfo.write_text("processor\t: 0\n")
    assert config._cpu_model(cpuinfo) == ""
    assert config._cpu_model(tmp_path / "missing") == ""
    if Path("/proc/cpuinfo").exists() and not platform.processor():
        assert config.versions()["processor"] == (config._cpu_model() or "unknown")
