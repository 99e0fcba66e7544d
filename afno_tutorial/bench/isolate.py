"""Measurements in a fresh Python process: peak CPU memory, isolated timings, paired timings.

In one long process the memory that earlier configurations freed decides whether a later one pays page faults,
which can favour one configuration over another by 20 % or more, and a process's peak resident memory says
nothing once an earlier configuration has raised it. So on the CPU the benchmark measures peak memory (always)
and, with ``--isolate``, times (and ``--paired``, pairs) each configuration in a child process that does only
that: ``python -m afno_tutorial.bench --_child TASK`` (:func:`child_main`) prints one JSON line that
:func:`run_child` reads back. The child runs on the parent's intra-op threads.

The child builds mixers by name, so it first imports the modules that registered the parent's mixers (those
outside the package, found on the parent's ``sys.path``): a mixer registered when its module is imported is then
registered in the child too. A mixer registered by ``__main__`` (a script, a notebook) cannot be, and
:func:`~afno_tutorial.bench.harness.check_settings` refuses to measure it in a fresh process.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from typing import Any

import torch

from .. import measure
from ..mixers import available_mixers, mixer_info
from .paired import measure_pair
from .profile import profile_step
from .specs import MixerSpec, parse_dtype, parse_mixer_spec, setup_step


def registering_modules() -> list[str]:
    """The modules outside the package that registered mixers in this process (``__main__`` included)."""
    modules = {mixer_info(name).factory.__module__ for name in available_mixers()}
    return sorted(m for m in modules if m != "afno_tutorial" and not m.startswith("afno_tutorial."))


def run_child(task: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one measurement (:func:`child_main`) in a fresh Python process on the CPU; its JSON result."""
    imports = [m for m in registering_modules() if m != "__main__"]
    # The parent's --threads, which the child does not inherit, and the modules that register its mixers.
    task = {**task, "threads": torch.get_num_threads(), "imports": imports}
    env = dict(os.environ)
    if imports:  # found where the parent found them
        env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p] + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = subprocess.run(
        [sys.executable, "-m", "afno_tutorial.bench", "--_child", json.dumps(task)],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{task['task']} subprocess failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_memory_subprocess(spec: MixerSpec, grid: int, dim: int, batch: int, dtype: str, mode: str,
                              timeout: float = 600.0) -> int:
    """Peak CPU memory of one call (:func:`afno_tutorial.measure.peak_memory_bytes`, resident memory), measured
    in a fresh Python process so earlier runs do not blur it."""
    task = {"task": "memory", "spec": spec.label, "grid": grid, "dim": dim, "batch": batch, "dtype": dtype,
            "mode": mode}  # fmt: skip
    return int(run_child(task, timeout)["memory_bytes"])


def time_subprocess(spec: MixerSpec, grid: int, dim: int, batch: int, dtype: str, mode: str, repeats: int = 5,
                    warmup: int = 1, max_seconds: float = 60.0, profile: bool = False,
                    warmup_seconds: float | None = None, timeout: float = 1800.0) -> dict[str, Any]:  # fmt: skip
    """:func:`afno_tutorial.measure.time_step` (and with ``profile``,
    :func:`~afno_tutorial.bench.profile.profile_step`) of one configuration in a fresh Python process on the CPU.

    Returns ``{"time_s": median, "times": [...], "profile": {...} or None, "threads": the child's intra-op
    threads (the parent's)}``.
    """
    task = {"task": "time", "spec": spec.label, "grid": grid, "dim": dim, "batch": batch, "dtype": dtype,
            "mode": mode, "repeats": repeats, "warmup": warmup, "max_seconds": max_seconds, "profile": profile,
            "warmup_seconds": measure.WARMUP_SECONDS if warmup_seconds is None else warmup_seconds}  # fmt: skip
    return run_child(task, timeout)


def child_main(payload: str) -> None:
    """The child process of :func:`run_child`: runs the task ``payload`` (JSON) and prints one JSON line."""
    cfg = json.loads(payload)
    for module in cfg.get("imports", []):
        importlib.import_module(module)  # registers the parent's mixers
    torch.set_num_threads(cfg["threads"])
    cpu = torch.device("cpu")
    if cfg["task"] == "paired":
        print(json.dumps(measure_pair(tuple(cfg["a"]), tuple(cfg["b"]), cfg["grid"], cfg["dim"], cfg["batch"],
                                      cfg["dtype"], "cpu", cfg["cycles"], cfg["warmup_seconds"])))  # fmt: skip
        return
    spec = parse_mixer_spec(cfg["spec"])
    _, _, step = setup_step(spec, cfg["grid"], cfg["dim"], cfg["batch"], cpu, parse_dtype(cfg["dtype"]), cfg["mode"])
    if cfg["task"] == "memory":
        if spec.compile:
            step()  # compile first: measure the compiled call, not the compiler
        print(json.dumps({"memory_bytes": measure.peak_memory_bytes(step, cpu, method="rss")}))
        return
    seconds, times = measure.time_step(step, cpu, repeats=cfg["repeats"], warmup=cfg["warmup"],
                                       warmup_seconds=cfg["warmup_seconds"], max_seconds=cfg["max_seconds"])
    profile = profile_step(step, runs=min(cfg["repeats"], 3), warmup=0) if cfg["profile"] else None
    print(json.dumps({"time_s": seconds, "times": times, "profile": profile, "threads": torch.get_num_threads()}))


__all__ = ["child_main", "measure_memory_subprocess", "registering_modules", "run_child", "time_subprocess"]
