"""Scaling benchmark: time and peak memory of token mixers from a few hundred to tens of thousands of tokens.

    python -m afno_tutorial.bench                                   # afno, attention, gfn, fno; grids 16..256
    python -m afno_tutorial.bench --mixers afno "afno:hard_thresholding_fraction=0.5" roundtrip \\
        --grids 64 128 256 --modes forward backward --out benchmarks/cpu

A mixer is a registry name (:func:`afno_tutorial.mixers.available_mixers`) or one of three baselines that live
here: ``roundtrip`` (a bare ``rfft2`` + ``irfft2`` of the same tensor in the FFT's fastest layout, the floor of any
FFT mixer; ``roundtrip:library='scipy'`` the same with SciPy's FFT over the channels-last tensor), ``afno_reference`` (a reference-style AFNO: channels-last FFT over the full spectrum, real/imaginary
``einsum``) and ``copy`` (``x.clone()``, the floor of any mixer that writes a new output).
``name:key=value,...`` passes keyword arguments (Python literals; a bare word is a string) to the constructor; ``name+compile`` wraps the
module in ``torch.compile`` (compiled during the untimed warm-up).

Time: warm-up, then the median of repeated runs (CUDA synchronised). Forward runs under ``torch.no_grad``;
``backward`` mode times forward plus backward. Memory: on CUDA ``torch.cuda.max_memory_allocated`` above what was
allocated before; on CPU each configuration runs in a fresh subprocess and reports its peak resident memory
(``VmHWM``, reset after set-up) minus the resident memory after set-up. A configuration whose predicted time or
memory exceeds the budget is skipped and recorded with its estimate. ``--isolate`` times each configuration in a
fresh process as well, so that configurations compare like for like; ``--rounds N`` times all configurations N
times over, round after round, and reports the median, so that slow drifts of a machine's speed fall on all of
them alike. ``--profile`` adds the time per call split by kind of work (FFTs, matrix products, copies, ...;
:mod:`afno_tutorial.bench.profile`). ``--paired CYCLES`` also times each timing target's two configurations
alternately in one process at the largest grid and reports the median of the per-cycle ratios with its quartiles
(:mod:`afno_tutorial.bench.paired`): the estimate that a machine's drift disturbs least. Theoretical FLOPs come
from :mod:`afno_tutorial.flops` (forward; forward+backward counted as 3x forward).
"""

from __future__ import annotations

import argparse
import ast
import csv
import functools
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .. import flops as flops_mod
from .. import spectral
from ..checks import check_positive_int
from ..config import describe_device, versions
from ..mixers import AFNO2d, available_mixers, build_mixer
from ..mixers._cpu.buffer_pool import POOL
from ..mixers._cpu.pocketfft import fft_inplace, irfft_pooled, rfft_pooled, scipy_fft
from .paired import (
    FORWARD_BACKWARD_LIMIT,
    FORWARD_LIMIT,
    FRACTION_LIMIT,
    POOLED_FLOOR,
    format_pairs,
    measure_target_pairs,
)
from .profile import check_profile_device, format_profile, kernel_seconds, profile_step

DEFAULT_MIXERS = ("afno", "attention", "gfn", "fno")
DEFAULT_GRIDS = (16, 32, 64, 128, 256)
BASELINES = ("roundtrip", "afno_reference", "copy")
MODES = ("forward", "backward")
# The FFT floors the targets are checked against: library -> (labels at fraction 1 and at fraction 0.5).
FLOORS = {
    "PyTorch": ("roundtrip", "roundtrip:hard_thresholding_fraction=0.5"),
    "SciPy": ("roundtrip:library='scipy'", "roundtrip:hard_thresholding_fraction=0.5,library='scipy'"),
}
# Least seconds of warm-up calls before timing (see time_step).
WARMUP_SECONDS = 1.0

CSV_FIELDS = (
    "mixer", "mode", "grid", "tokens", "dim", "batch", "device", "dtype", "status", "time_s", "time_min_s",
    "time_max_s", "memory_bytes", "input_bytes", "memory_ratio", "flops", "gflops_per_s", "estimate_time_s", "estimate_memory_bytes", "note",
)  # fmt: skip


class FFTRoundTrip(nn.Module):
    """A bare FFT round trip of the token tensor, the floor any FFT-based mixer pays; in and out ``(B, H, W, C)``.

    ``library="torch"``: ``irfft2(rfft2(x))`` of the tensor's memory read as ``(B, C, H, W)``, PyTorch's fastest
    layout, with no copies. ``library="scipy"``: SciPy's FFT (pocketfft) over the channels-last tensor as it is,
    one axis at a time (``rfft`` over ``W``, ``fft`` over ``H`` and back, in place where the library allows), the
    transforms of AFNO's ``path="pocketfft"``.

    With ``hard_thresholding_fraction < 1`` only the kept bins are computed and transformed back (the kept set of
    ``AFNO2d`` at that fraction): what truncation saves in the transforms themselves.

    ``pooled=True`` (SciPy only): the spectrum and the output are written into buffers of
    :data:`~afno_tutorial.mixers._cpu.buffer_pool.POOL`, as AFNO's pocketfft path writes its own, so their pages are not faulted
    in afresh on every call. The targets are set against the bare round trip (``pooled=False``); this one shows how
    much of AFNO's distance to it is the memory both could save.
    """

    def __init__(self, dim: int, hard_thresholding_fraction: float = 1.0, library: str = "torch",
                 pooled: bool = False) -> None:  # fmt: skip
        super().__init__()
        if library not in ("torch", "scipy"):
            raise ValueError(f"library: expected 'torch' or 'scipy', got {library!r}")
        if pooled and library != "scipy":
            raise ValueError(f"pooled: only with library='scipy', got library={library!r}")
        self.dim = dim
        self.fraction = spectral.check_fraction(hard_thresholding_fraction)
        self.library = library
        self.pooled = bool(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        modes = spectral.modes_from_fraction(height, width, self.fraction)
        if self.library == "scipy":
            return _ScipyRoundTrip.apply(x, modes, self.pooled)
        xc = x.reshape(batch, channels, height, width).float()  # a reinterpretation, not a transpose
        if self.fraction == 1.0:
            y = torch.fft.irfft2(torch.fft.rfft2(xc, norm="ortho"), s=(height, width), norm="ortho")
        else:
            y = spectral.irfft2_kept(spectral.rfft2_kept(xc, modes), (height, width), modes)
        return y.reshape(x.shape).to(x.dtype)


def scipy_round_trip(x: torch.Tensor, modes: tuple[int, int], pooled: bool = False) -> torch.Tensor:
    """``x: (B, H, W, C)`` -> the field of its kept bins ``|k_y| < m_y, k_x < m_x`` (all of ``x`` when every bin is
    kept), channels-last throughout with SciPy's FFT, ``norm="ortho"``; with ``pooled`` the spectrum and the output
    are buffers of :data:`~afno_tutorial.mixers._cpu.buffer_pool.POOL`."""
    (m_y, m_x), (height, width) = modes, x.shape[1:3]
    real = x.detach().float().contiguous().numpy()
    half = rfft_pooled(real, "ortho") if pooled else scipy_fft("rfft", real, axis=2, norm="ortho")
    kept = half[:, :, :m_x]  # transformed over H and back in place, as AFNO's pocketfft path does
    fft_inplace("fft", kept, axis=1, norm="ortho")
    if spectral.kept_row_count(height, m_y) < height:
        kept[:, m_y : height - m_y + 1] = 0
    fft_inplace("ifft", kept, axis=1, norm="ortho")
    half[:, :, m_x:] = 0
    if pooled:
        y = irfft_pooled(half, width, "ortho")
    else:
        y = scipy_fft("irfft", half, n=width, axis=2, norm="ortho", overwrite_x=True)
    return torch.from_numpy(y).to(x.dtype)


class _ScipyRoundTrip(torch.autograd.Function):
    """The round trip is an orthogonal projection (the identity when every bin is kept): its own adjoint."""

    @staticmethod
    def forward(ctx, x, modes, pooled):  # type: ignore[override]
        ctx.modes, ctx.pooled = modes, pooled
        return scipy_round_trip(x, modes, pooled)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return scipy_round_trip(grad, ctx.modes, ctx.pooled), None, None


class CopyFloor(nn.Module):
    """``x.clone()``: read the input once and write a freshly allocated output, the floor of any mixer that returns
    a new tensor (on a CPU that includes the page faults of first touching the output)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


class ReferenceAFNO2d(nn.Module):
    """A reference-style AFNO (the public code's structure): channels-last ``rfft2`` over the full spectrum, the
    block MLP as real/imaginary ``einsum``s, ``irfft2``. Same parameters and maths as :class:`AFNO2d` at
    ``hard_thresholding_fraction=1`` (up to the CPU/GPU Hermitian detail); kept here only as a speed baseline.
    """

    def __init__(self, dim: int, num_blocks: int = 8, sparsity_threshold: float = 0.01) -> None:
        super().__init__()
        self.inner = AFNO2d(dim, num_blocks=num_blocks, sparsity_threshold=sparsity_threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.inner
        batch, height, width, channels = x.shape
        k, b = m.num_blocks, m.block_size
        z = torch.fft.rfft2(x.float(), dim=(1, 2), norm="ortho").reshape(batch, height, width // 2 + 1, k, b)
        w1, b1, w2, b2 = (p.float() for p in (m.w1, m.b1, m.w2, m.b2))  # the spectrum is float32 whatever x is
        o1r = torch.relu(
            torch.einsum("...bi,bio->...bo", z.real, w1[0]) - torch.einsum("...bi,bio->...bo", z.imag, w1[1]) + b1[0]
        )
        o1i = torch.relu(
            torch.einsum("...bi,bio->...bo", z.imag, w1[0]) + torch.einsum("...bi,bio->...bo", z.real, w1[1]) + b1[1]
        )
        o2r = torch.einsum("...bi,bio->...bo", o1r, w2[0]) - torch.einsum("...bi,bio->...bo", o1i, w2[1]) + b2[0]
        o2i = torch.einsum("...bi,bio->...bo", o1i, w2[0]) + torch.einsum("...bi,bio->...bo", o1r, w2[1]) + b2[1]
        o2 = torch.nn.functional.softshrink(torch.stack([o2r, o2i], dim=-1), lambd=m.sparsity_threshold)
        z = torch.view_as_complex(o2).reshape(batch, height, width // 2 + 1, channels)
        y = torch.fft.irfft2(z, s=(height, width), dim=(1, 2), norm="ortho")
        return y.to(x.dtype)  # the mixed tokens, as AFNO2d returns them (the reference adds x here)


@dataclass
class MixerSpec:
    """A mixer to benchmark: a registry/baseline ``name`` and constructor ``kwargs``; ``label`` names it in results."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    compile: bool = False

    @property
    def label(self) -> str:
        text = self.name + "+compile" if self.compile else self.name
        if not self.kwargs:
            return text
        # Keys sorted: the same configuration has one label however it was typed.
        return text + ":" + ",".join(f"{k}={v!r}" for k, v in sorted(self.kwargs.items()))


def parse_mixer_spec(text: str) -> MixerSpec:
    """``"afno"``, ``"afno:hard_thresholding_fraction=0.5,num_blocks=4"`` or ``"afno+compile"`` (wrapped in
    ``torch.compile``) -> :class:`MixerSpec`."""
    name, _, rest = text.partition(":")
    compiled = name.endswith("+compile")
    name = name.removesuffix("+compile")
    known = set(available_mixers()) | set(BASELINES)
    if name not in known:
        raise ValueError(f"mixers: expected names from {sorted(known)}, got {name!r}")
    kwargs: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.isidentifier():
            raise ValueError(f"mixers: expected 'name:key=value,...', got {text!r}")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            if not value.isidentifier():  # a bare word is a string: afno:path=pocketfft
                raise ValueError(f"mixers: the value of {key!r} in {text!r} is not a Python literal") from None
            kwargs[key] = value
    return MixerSpec(name, kwargs, compiled)


def build_bench_mixer(spec: MixerSpec | str, dim: int, grid: int) -> nn.Module:
    """Build the module for ``spec`` at ``dim`` channels on a ``grid x grid`` token grid."""
    spec = parse_mixer_spec(spec) if isinstance(spec, str) else spec
    if spec.name == "roundtrip":
        return FFTRoundTrip(dim, **spec.kwargs)
    if spec.name == "afno_reference":
        return ReferenceAFNO2d(dim, **spec.kwargs)
    if spec.name == "copy":
        return CopyFloor(dim, **spec.kwargs)
    return build_mixer(spec.name, dim, grid_size=(grid, grid), **spec.kwargs)


def theoretical_flops(module: nn.Module, grid: int, batch: int, mode: str) -> float | None:
    """Forward FLOPs (x3 for forward+backward) from :func:`afno_tutorial.flops.mixer_flops`; ``None`` if unknown."""
    factor = 3.0 if mode == "backward" else 1.0
    if isinstance(module, FFTRoundTrip):
        columns = spectral.modes_from_fraction(grid, grid, module.fraction)[1]
        return factor * batch * module.dim * 2 * flops_mod.rfft2_flops(grid, grid, columns)
    if isinstance(module, CopyFloor):
        return None  # no arithmetic
    if isinstance(module, ReferenceAFNO2d):
        module = module.inner
    try:
        return factor * flops_mod.mixer_flops(module, (grid, grid), batch)["total"]
    except TypeError:
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(module: nn.Module, x: torch.Tensor, mode: str) -> Callable[[], None]:
    """One benchmark call of ``module`` on ``x: (B, H, W, C)``: ``mode="forward"`` under ``torch.no_grad``,
    ``"backward"`` forward plus backward of a fixed random output gradient (gradients reset every call)."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    if mode == "forward":

        def step() -> None:
            with torch.no_grad():
                module(x)

        return step
    x = x.detach().requires_grad_()
    grad = torch.randn_like(x)

    def step() -> None:
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).backward(grad)

    return step


def time_step(step: Callable[[], None], device: torch.device, repeats: int = 5, warmup: int = 1,
              max_seconds: float = 60.0, warmup_seconds: float | None = None) -> tuple[float, list[float]]:
    """Median wall time of ``step`` after a warm-up of at least ``warmup`` calls and ``warmup_seconds``; fewer
    repeats when one call is slow.

    A process settles over its first calls, not only its first one: the C allocator grows its heap and adapts
    its thresholds to the sizes it sees, and fresh pages are faulted in. A 65,536-token AFNO forward in a fresh
    process on a 2-core CPU is markedly slower for its first four or five calls than after them.

    Args:
        warmup_seconds: ``None``: :data:`WARMUP_SECONDS`.

    Returns ``(median seconds, the seconds of every timed run)``.
    """
    warmup_seconds = WARMUP_SECONDS if warmup_seconds is None else warmup_seconds
    first, spent, calls = math.inf, 0.0, 0
    while calls < max(1, warmup) or spent < min(warmup_seconds, max_seconds):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        seconds = time.perf_counter() - start
        first, spent, calls = min(first, seconds), spent + seconds, calls + 1
    runs = max(1, min(repeats, int(max_seconds / max(first, 1e-9))))
    times = []
    for _ in range(runs):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _read_status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux ``clear_refs``); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure_peak_memory(step: Callable[[], None], device: torch.device) -> int:
    """Peak bytes allocated by one call of ``step`` above what was resident before it.

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: peak resident set (``VmHWM``, reset first) minus the resident
    set before; meaningful in a fresh process (see :func:`measure_memory_subprocess`).
    """
    # Collect cyclic garbage from earlier runs first: freed during the step, it would lower the baseline and hide
    # the step's own allocations (a peak of 0 was seen on a GPU for a tiny configuration).
    gc.collect()
    # Free buffers the pocketfft AFNO pooled on earlier calls would otherwise serve this call from memory already
    # resident, and hide what it needs.
    POOL.clear()
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    if _reset_peak_rss():
        before = _read_status_kib("VmRSS")
        step()
        peak = _read_status_kib("VmHWM")
        if before is not None and peak is not None:
            return max(0, peak - before) * 1024
    import resource  # Unix fallback: the growth of the process's lifetime peak (Linux KiB, macOS bytes)

    unit = 1 if sys.platform == "darwin" else 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step()
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * unit


def _setup(spec: MixerSpec, grid: int, dim: int, batch: int, device: torch.device, dtype: torch.dtype,
           mode: str) -> tuple[nn.Module, torch.Tensor, Callable[[], None]]:
    torch.manual_seed(0)
    module = build_bench_mixer(spec, dim, grid).to(device=device, dtype=dtype)
    if spec.compile:
        module = torch.compile(module)  # compiled on the warm-up call, which is not timed
    x = torch.randn(batch, grid, grid, dim, device=device, dtype=dtype)
    return module, x, make_step(module, x, mode)


def _run_child(task: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one measurement (:func:`_child`) in a fresh Python process on the CPU; its JSON result."""
    task = {**task, "threads": torch.get_num_threads()}  # the parent's --threads, which the child does not inherit
    result = subprocess.run(
        [sys.executable, "-m", "afno_tutorial.bench", "--_child", json.dumps(task)],
        capture_output=True, text=True, timeout=timeout, env=dict(os.environ), check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{task['task']} subprocess failed: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_memory_subprocess(spec: MixerSpec, grid: int, dim: int, batch: int, dtype: str, mode: str,
                              timeout: float = 600.0) -> int:
    """Peak CPU memory of one call, measured in a fresh Python process so earlier runs do not blur it."""
    task = {"task": "memory", "spec": spec.label, "grid": grid, "dim": dim, "batch": batch, "dtype": dtype,
            "mode": mode}  # fmt: skip
    return int(_run_child(task, timeout)["memory_bytes"])


def time_subprocess(spec: MixerSpec, grid: int, dim: int, batch: int, dtype: str, mode: str, repeats: int = 5,
                    warmup: int = 1, max_seconds: float = 60.0, profile: bool = False,
                    warmup_seconds: float | None = None,
                    timeout: float = 1800.0) -> dict[str, Any]:
    """:func:`time_step` (and with ``profile``, :func:`~afno_tutorial.bench.profile.profile_step`) of one
    configuration in a fresh Python process on the CPU.

    Every configuration then starts from the same process state. In one long process the memory that earlier
    configurations freed decides whether a later one pays page faults, which can favour one configuration over
    another by 20 % or more.

    Returns ``{"time_s": median, "times": [...], "profile": {...} or None, "threads": the child's intra-op
    threads (the parent's)}``.
    """
    task = {"task": "time", "spec": spec.label, "grid": grid, "dim": dim, "batch": batch, "dtype": dtype,
            "mode": mode, "repeats": repeats, "warmup": warmup, "max_seconds": max_seconds, "profile": profile,
            "warmup_seconds": WARMUP_SECONDS if warmup_seconds is None else warmup_seconds}
    return _run_child(task, timeout)


def _child(payload: str) -> None:
    """The child process of :func:`measure_memory_subprocess`, :func:`time_subprocess` and
    :func:`~afno_tutorial.bench.paired.measure_target_pairs`: prints one JSON line."""
    cfg = json.loads(payload)
    torch.set_num_threads(cfg["threads"])
    cpu = torch.device("cpu")
    if cfg["task"] == "paired":
        from .paired import measure_pair

        print(json.dumps(measure_pair(tuple(cfg["a"]), tuple(cfg["b"]), cfg["grid"], cfg["dim"], cfg["batch"],
                                      cfg["dtype"], "cpu", cfg["cycles"], cfg["warmup_seconds"])))  # fmt: skip
        return
    _, _, step = _setup(parse_mixer_spec(cfg["spec"]), cfg["grid"], cfg["dim"], cfg["batch"], cpu,
                        _parse_dtype(cfg["dtype"]), cfg["mode"])  # fmt: skip
    if cfg["task"] == "memory":
        if cfg["spec"].partition(":")[0].endswith("+compile"):
            step()  # compile first: measure the compiled call, not the compiler
        print(json.dumps({"memory_bytes": measure_peak_memory(step, cpu)}))
        return
    seconds, times = time_step(step, cpu, repeats=cfg["repeats"], warmup=cfg["warmup"],
                               warmup_seconds=cfg["warmup_seconds"],
                               max_seconds=cfg["max_seconds"])  # fmt: skip
    profile = profile_step(step, runs=min(cfg["repeats"], 3), warmup=0) if cfg["profile"] else None
    print(json.dumps({"time_s": seconds, "times": times, "profile": profile, "threads": torch.get_num_threads()}))


def _parse_dtype(name: str) -> torch.dtype:
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}
    if name not in table:
        raise ValueError(f"dtype: expected one of {sorted(table)}, got {name!r}")
    return table[name]


def fit_slope(tokens: Sequence[float], values: Sequence[float]) -> float:
    """Least-squares slope of ``log(values)`` against ``log(tokens)`` (1: linear, 2: quadratic); NaN if < 2 points."""
    pairs = [(math.log(t), math.log(v)) for t, v in zip(tokens, values) if t > 0 and v and v > 0]
    if len(pairs) < 2:
        return math.nan
    mx = sum(p[0] for p in pairs) / len(pairs)
    my = sum(p[1] for p in pairs) / len(pairs)
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    return sum((p[0] - mx) * (p[1] - my) for p in pairs) / sxx if sxx > 0 else math.nan


def _extrapolate(history: list[tuple[int, float]], tokens: int) -> float | None:
    """Power-law extrapolation from the last two measured (tokens, value) points (or one point at slope 2)."""
    if not history:
        return None
    if len(history) == 1:
        (t0, v0), slope = history[-1], 2.0  # pessimistic until a slope is known
    else:
        (t1, v1), (t0, v0) = history[-2], history[-1]
        slope = max(1.0, math.log(v0 / v1) / math.log(t0 / t1)) if v0 > 0 and v1 > 0 and t0 != t1 else 2.0
    return v0 * (tokens / t0) ** slope


def _analytic_memory(spec: MixerSpec, grid: int, dim: int, batch: int, element: int, mode: str) -> float:
    """A rough upper estimate before anything is measured: a few copies of the input, plus attention's scores."""
    tokens = grid * grid
    estimate = 6.0 * batch * tokens * dim * max(element, 4)
    if spec.name == "attention":
        heads = spec.kwargs.get("num_heads", 8)
        # The math kernel (and any backward) holds the (B, heads, N, N) scores; flash kernels do not.
        estimate += (2.0 if mode == "backward" else 1.0) * batch * heads * tokens * tokens * max(element, 4)
    if mode == "backward":
        estimate *= 2
    return estimate


def run_benchmark(
    mixers: Sequence[str | MixerSpec] = DEFAULT_MIXERS,
    grids: Sequence[int] = DEFAULT_GRIDS,
    dim: int = 256,
    batch: int = 1,
    device: str = "cpu",
    dtype: str = "float32",
    modes: Sequence[str] = ("forward",),
    repeats: int = 5,
    warmup: int = 1,
    warmup_seconds: float | None = None,
    time_budget: float = 60.0,
    memory_budget: float = 8e9,
    memory: bool = True,
    progress: bool = True,
    profile: bool = False,
    isolate: bool = False,
    rounds: int = 1,
) -> list[dict[str, Any]]:
    """Time (and measure memory of) every mixer x grid x mode; returns one result dict per configuration.

    Args:
        mixers: registry/baseline names or ``name:key=value`` specs.
        grids: square grid sides ``H = W`` (tokens ``H*W``).
        dim, batch: channels ``C`` and batch ``B``.
        device: ``"cpu"`` or ``"cuda"``.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float64"`` of input and parameters.
        modes: ``"forward"`` (under ``no_grad``) and/or ``"backward"`` (forward + backward).
        repeats, warmup: timed runs (median) and the least number of untimed runs before them.
        warmup_seconds: the least time spent in untimed runs (:func:`time_step`; ``None``: :data:`WARMUP_SECONDS`).
        time_budget: seconds one run may be predicted to take; slower configurations are skipped.
        memory_budget: bytes one run may be predicted to need; larger configurations are skipped.
        memory: also measure peak memory (CPU: a subprocess per configuration).
        progress: a tqdm bar over configurations.
        profile: also split each configuration's time by kind of work (CPU only;
            :func:`~afno_tutorial.bench.profile.profile_step`), stored under ``"profile"`` (JSON, not CSV).
        isolate: time (and profile) each configuration in a fresh process (CPU only; :func:`time_subprocess`),
            so that configurations compare like for like.
        rounds: time every configuration this many times, round after round over all configurations, and report
            the median of the rounds' medians (each round's median under ``"round_times_s"``, JSON only). Slow
            drifts of the machine's speed then fall on every configuration alike instead of on whichever ran
            during them; the budgets and the profile use the first round.

    Returns:
        dicts with the keys of :data:`CSV_FIELDS`; ``status`` is ``"ok"``, ``"skipped"`` (with the estimates and a
        note) or ``"error"``.
    """
    check_positive_int(dim, "dim")
    check_positive_int(batch, "batch")
    check_positive_int(repeats, "repeats")
    check_positive_int(rounds, "rounds")
    specs = [parse_mixer_spec(m) if isinstance(m, str) else m for m in mixers]
    for g in grids:
        check_positive_int(g, "grids")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"modes: expected values from {MODES}, got {mode!r}")
    dev = torch.device(device)
    if isolate and dev.type != "cpu":
        raise ValueError(f"isolate: timing in fresh processes is CPU only, got device {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was requested but torch.cuda.is_available() is False")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
    if profile:
        check_profile_device(dev)
    torch_dtype = _parse_dtype(dtype)
    element = torch.tensor([], dtype=torch_dtype).element_size()
    device_name = describe_device(dev)

    from tqdm.auto import tqdm

    configs = [(s, m, g) for s in specs for m in modes for g in sorted(grids)]
    results: list[dict[str, Any]] = []
    time_hist: dict[tuple[str, str], list[tuple[int, float]]] = {}
    mem_hist: dict[tuple[str, str], list[tuple[int, float]]] = {}
    timers: dict[int, Callable[[], tuple[float, list[float]]]] = {}  # row index -> a fresh timing of its config
    for spec, mode, grid in tqdm(configs, desc="benchmark", disable=not progress):
        tokens = grid * grid
        key = (spec.label, mode)
        row: dict[str, Any] = {
            "mixer": spec.label, "mode": mode, "grid": grid, "tokens": tokens, "dim": dim, "batch": batch,
            "device": device_name, "dtype": dtype, "status": "ok", "time_s": None, "time_min_s": None,
            "time_max_s": None, "memory_bytes": None,
            "input_bytes": batch * tokens * dim * element, "memory_ratio": None, "flops": None,
            "gflops_per_s": None, "estimate_time_s": None, "estimate_memory_bytes": None, "note": "",
        }  # fmt: skip
        try:
            module = build_bench_mixer(spec, dim, grid)
        except (ValueError, TypeError) as error:
            row.update(status="error", note=str(error))
            results.append(row)
            continue
        row["flops"] = theoretical_flops(module, grid, batch, mode)
        est_time = _extrapolate(time_hist.get(key, []), tokens)
        if est_time is None and row["flops"] is not None:
            est_time = row["flops"] / 2e9  # before any measurement: a modest 2 GFLOP/s
        est_mem = _extrapolate(mem_hist.get(key, []), tokens)
        if est_mem is None:
            est_mem = _analytic_memory(spec, grid, dim, batch, element, mode)
        row["estimate_time_s"], row["estimate_memory_bytes"] = est_time, est_mem
        over = []
        if est_time is not None and est_time > time_budget:
            over.append(f"predicted {est_time:.3g} s > time budget {time_budget:g} s")
        if est_mem > memory_budget:
            over.append(f"predicted {est_mem / 1e9:.3g} GB > memory budget {memory_budget / 1e9:g} GB")
        if over:
            row.update(status="skipped", note="; ".join(over))
            results.append(row)
            continue
        del module
        try:
            if isolate:
                timed = time_subprocess(spec, grid, dim, batch, dtype, mode, repeats, warmup, 4 * time_budget, profile,
                                        warmup_seconds)
                seconds, times = timed["time_s"], timed["times"]
                if profile:
                    row["profile"] = timed["profile"]
            else:
                _, _, step = _setup(spec, grid, dim, batch, dev, torch_dtype, mode)
                seconds, times = time_step(step, dev, repeats=repeats, warmup=warmup, max_seconds=4 * time_budget,
                                           warmup_seconds=warmup_seconds)
                if profile:
                    row["profile"] = profile_step(step, runs=min(repeats, 3), warmup=0)
                del step
            row.update(time_s=seconds, time_min_s=min(times), time_max_s=max(times))
            row["note"] = f"median of {len(times)}" + (", fresh process" if isolate else "")
            if rounds > 1:
                row["round_times_s"] = [seconds]
                timers[len(results)] = functools.partial(
                    _time_again, spec, grid, dim, batch, dev, dtype, mode, (repeats, warmup, warmup_seconds),
                    4 * time_budget, isolate,
                )
            time_hist.setdefault(key, []).append((tokens, seconds))
            if row["flops"] is not None:
                row["gflops_per_s"] = row["flops"] / seconds / 1e9
            if memory:
                if dev.type == "cuda":
                    _, _, step = _setup(spec, grid, dim, batch, dev, torch_dtype, mode)
                    peak = measure_peak_memory(step, dev)
                    del step
                else:
                    peak = measure_memory_subprocess(spec, grid, dim, batch, dtype, mode)
                row["memory_bytes"] = peak
                row["memory_ratio"] = peak / row["input_bytes"]
                mem_hist.setdefault(key, []).append((tokens, max(peak, 1)))
        except (RuntimeError, torch.cuda.OutOfMemoryError, subprocess.TimeoutExpired) as error:
            row.update(status="error", note=str(error).splitlines()[0][:200] if str(error) else type(error).__name__)
        results.append(row)
    if timers:
        _more_rounds(results, timers, rounds, progress)
    return results


def _time_again(spec: MixerSpec, grid: int, dim: int, batch: int, device: torch.device, dtype: str, mode: str,
                counts: tuple[int, int, float | None], max_seconds: float, isolate: bool) -> tuple[float, list[float]]:
    """One more timing of a configuration, as :func:`run_benchmark` timed it first: ``(median, times)``.

    ``counts``: ``(repeats, warmup, warmup_seconds)``."""
    repeats, warmup, warmup_seconds = counts
    if isolate:
        timed = time_subprocess(spec, grid, dim, batch, dtype, mode, repeats, warmup, max_seconds,
                                warmup_seconds=warmup_seconds)  # fmt: skip
        return timed["time_s"], timed["times"]
    _, _, step = _setup(spec, grid, dim, batch, device, _parse_dtype(dtype), mode)
    return time_step(step, device, repeats=repeats, warmup=warmup, max_seconds=max_seconds,
                     warmup_seconds=warmup_seconds)  # fmt: skip


def _more_rounds(results: list[dict[str, Any]], timers: dict[int, Callable[[], tuple[float, list[float]]]],
                 rounds: int, progress: bool) -> None:
    """Rounds 2..``rounds`` of :func:`run_benchmark`: each configuration once per round, in the same order; then
    every row's time becomes the median of its rounds."""
    from tqdm.auto import tqdm

    for index, timer in tqdm([item for _ in range(rounds - 1) for item in timers.items()], desc="more rounds",
                             disable=not progress):  # fmt: skip
        row = results[index]
        try:
            seconds, times = timer()
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            row["note"] += f"; a later round failed: {str(error).splitlines()[0][:120] if str(error) else error}"
            continue
        row["round_times_s"].append(seconds)
        row["time_min_s"], row["time_max_s"] = min(row["time_min_s"], min(times)), max(row["time_max_s"], max(times))
    for index in timers:
        row = results[index]
        row["time_s"] = statistics.median(row["round_times_s"])
        if row["flops"] is not None:
            row["gflops_per_s"] = row["flops"] / row["time_s"] / 1e9
        row["note"] = row["note"].replace("median of", f"median of {len(row['round_times_s'])} rounds' medians of", 1)


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A fixed-width text table of results (time, memory, FLOPs, achieved rate, status)."""
    width = max([len("mixer")] + [len(r["mixer"]) for r in results])
    header = f"{'mixer':<{width}} {'mode':<8} {'tokens':>7} {'time':>10} {'peak mem':>10} {'x input':>7} " \
             f"{'GFLOP':>8} {'GFLOP/s':>8}  status"
    lines = [header, "-" * len(header)]
    for r in results:
        def fmt(value: Any, spec: str, unit: str = "") -> str:
            return "-" if value is None else format(value, spec) + unit

        mem = None if r["memory_bytes"] is None else r["memory_bytes"] / 2**20
        status = r["status"]
        if status == "skipped":
            status += f" ({r['note']})"
        elif status == "error":
            status += f" ({r['note']})"
        lines.append(
            f"{r['mixer']:<{width}} {r['mode']:<8} {r['tokens']:>7} {fmt(r['time_s'], '.4g', ' s'):>10} "
            f"{fmt(mem, '.4g', ' MiB'):>10} {fmt(r['memory_ratio'], '.2f'):>7} "
            f"{fmt(None if r['flops'] is None else r['flops'] / 1e9, '.3g'):>8} {fmt(r['gflops_per_s'], '.3g'):>8}  "
            f"{status}"
        )
    return "\n".join(lines)


def slopes(results: Sequence[dict[str, Any]], quantity: str = "time_s", min_tokens: int = 4096) -> dict[str, float]:
    """Fitted log-log slope of ``quantity`` against tokens per ``mixer [mode]``, over grids with >= ``min_tokens``."""
    out: dict[str, float] = {}
    for label in dict.fromkeys(f"{r['mixer']} [{r['mode']}]" for r in results):
        rows = [r for r in results if f"{r['mixer']} [{r['mode']}]" == label and r["status"] == "ok"
                and r[quantity] is not None and r["tokens"] >= min_tokens]
        out[label] = fit_slope([r["tokens"] for r in rows], [r[quantity] for r in rows])
    return out


def power_law(results: Sequence[dict[str, Any]], mixer: str, mode: str = "forward", quantity: str = "time_s",
              min_tokens: int = 1024) -> tuple[float, float]:
    """Fit ``quantity = a * tokens**slope`` over the measured rows of ``mixer``; returns ``(a, slope)``."""
    rows = [r for r in results if r["mixer"] == mixer and r["mode"] == mode and r["status"] == "ok"
            and r.get(quantity) and r["tokens"] >= min_tokens]
    if len(rows) < 2:
        rows = [r for r in results if r["mixer"] == mixer and r["mode"] == mode and r["status"] == "ok"
                and r.get(quantity)][-2:]
    if len(rows) < 2:
        raise ValueError(f"mixer: need two measured grids of {mixer!r} ({mode}) to fit a power law")
    slope = fit_slope([r["tokens"] for r in rows], [r[quantity] for r in rows])
    logs = [math.log(r[quantity]) - slope * math.log(r["tokens"]) for r in rows]
    return math.exp(sum(logs) / len(logs)), slope


def tokens_for(results: Sequence[dict[str, Any]], mixer: str, value: float, mode: str = "forward",
               quantity: str = "time_s") -> float:
    """Tokens at which the fitted power law of ``mixer`` reaches ``value`` (e.g. seconds per call).

    NaN when the fit is not increasing (grids too small for the cost to rise above fixed overheads).
    """
    a, slope = power_law(results, mixer, mode, quantity)
    if not slope > 0.5:
        return math.nan
    return (value / a) ** (1.0 / slope)


def sweep_afno(param: str, values: Sequence[Any], grid: int = 64, dim: int = 256, batch: int = 1,
               mode: str = "forward", repeats: int = 5, progress: bool = True,
               profile: bool = False) -> list[dict[str, Any]]:
    """Time one AFNO setting at several values (e.g. ``hard_thresholding_fraction`` or ``num_blocks``) on one grid.

    Rows as from :func:`run_benchmark` (``profile=True``: with the time by kind of work), with ``param`` and
    ``value`` added.
    """
    specs = [MixerSpec("afno", {param: v}) for v in values]
    rows = run_benchmark(specs, [grid], dim=dim, batch=batch, modes=[mode], repeats=repeats, memory=False,
                         progress=progress, profile=profile)  # fmt: skip
    for row, value in zip(rows, values):
        row["param"], row["value"] = param, value
    return rows


def _lookup(results: Sequence[dict[str, Any]], mixer: str, mode: str, tokens: int, key: str) -> float | None:
    for r in results:
        if r["mixer"] == mixer and r["mode"] == mode and r["tokens"] == tokens and r["status"] == "ok":
            return r.get(key)
    return None


def target_checks(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The project's performance targets at the largest grid measured for AFNO, where the rows needed are present.

    Each check: ``name``, ``value``, ``limit``, ``passed`` (value compared with limit as the name says).
    """
    ok = [r for r in results if r["mixer"] == "afno" and r["mode"] == "forward" and r["status"] == "ok"]
    if not ok:
        return []
    n = max(r["tokens"] for r in ok)
    get = lambda mixer, mode, key="time_s": _lookup(results, mixer, mode, n, key)  # noqa: E731
    afno = get("afno", "forward")
    checks = []

    def add(name: str, value: float | None, limit: float, upper: bool) -> None:
        if value is not None:
            checks.append({"name": name, "tokens": n, "value": value, "limit": limit,
                           "passed": value <= limit if upper else value >= limit})

    # Against each FFT floor measured: PyTorch's (channels-first) and SciPy's (channels-last, the transforms of
    # AFNO's default CPU path). The faster one is the honest floor; both are reported.
    for label, (key, _) in FLOORS.items():
        base = get(key, "forward")
        if not base:
            continue
        add(f"AFNO forward / FFT round trip, {label} (<=)", afno / base, FORWARD_LIMIT, True)
        back = get("afno", "backward")
        add(f"AFNO forward+backward / FFT round trip, {label} (<=)", None if back is None else back / base,
            FORWARD_BACKWARD_LIMIT, True)
        ref = get("afno_reference", "forward")
        add(f"reference-style AFNO forward / FFT round trip, {label} (info)", None if ref is None else ref / base,
            math.inf, True)
    pooled = get(POOLED_FLOOR, "forward")
    if pooled:
        add("AFNO forward / FFT round trip, SciPy with pooled buffers (info)", afno / pooled, math.inf, True)
        back = get("afno", "backward")
        add("AFNO forward+backward / FFT round trip, SciPy with pooled buffers (info)",
            None if back is None else back / pooled, math.inf, True)
    attn = get("attention", "forward")
    add("attention forward / AFNO forward (>=)", None if attn is None else attn / afno, 100.0, False)
    half = get("afno:hard_thresholding_fraction=0.5", "forward")
    add("AFNO fraction 0.5 / fraction 1 forward (<=)", None if half is None else half / afno, FRACTION_LIMIT, True)
    profiles = [_lookup(results, m, "forward", n, "profile") for m in ("afno:hard_thresholding_fraction=0.5", "afno")]
    if all(profiles):
        kernels = [kernel_seconds(p["kinds"]) for p in profiles]
        add("AFNO fraction 0.5 / fraction 1, FFT and matmul kernels alone (info)", kernels[0] / kernels[1],
            math.inf, True)
        copy = get("copy", "forward")
        if copy:
            # As fast as the kernels allow at both fractions: the kernels plus one read and write of the tensor.
            add("AFNO fraction 0.5 / fraction 1, kernels plus a copy of the tensor (info)",
                (kernels[0] + copy) / (kernels[1] + copy), math.inf, True)
    for label, (key, key_half) in FLOORS.items():
        full, low = get(key, "forward"), get(key_half, "forward")
        add(f"FFT round trip fraction 0.5 / fraction 1, {label} (info)", None if not (full and low) else low / full,
            math.inf, True)
    add("AFNO forward peak memory / input (<=)", get("afno", "forward", "memory_ratio"), 3.0, True)
    return checks


def format_checks(checks: Sequence[dict[str, Any]]) -> str:
    lines = []
    for c in checks:
        verdict = "" if math.isinf(c["limit"]) else ("  met" if c["passed"] else "  NOT met")
        limit = "" if math.isinf(c["limit"]) else f" (target {c['limit']:g})"
        lines.append(f"{c['name']} at {c['tokens']} tokens: {c['value']:.3g}{limit}{verdict}")
    return "\n".join(lines)


def save_results(results: Sequence[dict[str, Any]], stem: str | Path, command: str | None = None,
                 paired: Sequence[dict[str, Any]] | None = None) -> list[Path]:
    """Write ``stem.csv`` and ``stem.json`` (results plus versions, device, command, slopes, target checks, and the
    paired target ratios of :func:`~afno_tutorial.bench.paired.measure_target_pairs` when given)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = stem.with_suffix(".csv"), stem.with_suffix(".json")
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerow({k: r.get(k) for k in CSV_FIELDS})
    payload = {
        "command": command,
        "versions": versions(),
        "results": list(results),
        "time_slopes": slopes(results, "time_s"),
        "memory_slopes": slopes(results, "memory_bytes"),
        "targets": [{**c, "limit": None if math.isinf(c["limit"]) else c["limit"]} for c in target_checks(results)],
    }
    if paired:
        payload["paired_targets"] = list(paired)
    json_path.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    return [csv_path, json_path]


def load_results(path: str | Path) -> list[dict[str, Any]]:
    """Results from a ``.json`` written by :func:`save_results`."""
    return json.loads(Path(path).read_text())["results"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m afno_tutorial.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mixers", nargs="+", default=list(DEFAULT_MIXERS),
                        help=f"names from {available_mixers() + list(BASELINES)}, optionally name:key=value,...")
    parser.add_argument("--grids", nargs="+", type=int, default=list(DEFAULT_GRIDS), help="square grid sides")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float64"], default="float32")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=["forward"],
                        help="forward (no_grad) and/or backward (forward+backward)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="least untimed calls before timing")
    parser.add_argument("--warmup-seconds", type=float, default=WARMUP_SECONDS,
                        help="least seconds of untimed calls before timing (a process settles over several calls)")
    parser.add_argument("--time-budget", type=float, default=60.0, help="max predicted seconds per run")
    parser.add_argument("--memory-budget-gb", type=float, default=8.0, help="max predicted GB per run")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--out", default=None, help="write OUT.csv, OUT.json and OUT.png")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="also split each configuration's time by kind of work (torch.profiler; CPU only)")
    parser.add_argument("--replot", default=None, metavar="JSON",
                        help="no new measurements: print the table of a saved JSON and rewrite its .png")
    parser.add_argument("--isolate", action="store_true",
                        help="time each configuration in a fresh process, so they compare like for like (CPU only)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="time every configuration this many times, round after round, and report the median")
    parser.add_argument("--paired", type=int, default=0, metavar="CYCLES",
                        help="also time each timing target's pair alternately in one process, CYCLES times each, at "
                             "the largest grid (afno_tutorial.bench.paired; in a fresh process per pair on CPU)")
    parser.add_argument("--_child", dest="child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child is not None:
        _child(args.child)
        return 0
    if args.replot is not None:
        from ..viz.scaling import plot_scaling

        results = load_results(args.replot)
        print(format_table(results))
        if any(r.get("profile") for r in results):
            print("\n" + format_profile(results))
        checks = target_checks(results)
        if checks:
            print("\ntargets:\n" + format_checks(checks))
        paired = json.loads(Path(args.replot).read_text()).get("paired_targets")
        if paired:
            print("\npaired targets:\n" + format_pairs(paired))
        png = Path(args.replot).with_suffix(".png")
        plot_scaling(results).savefig(png, dpi=120, bbox_inches="tight")
        print(f"\nwrote {png}")
        return 0
    results = run_benchmark(
        args.mixers, args.grids, dim=args.dim, batch=args.batch, device=args.device, dtype=args.dtype,
        modes=args.modes, repeats=args.repeats, warmup=args.warmup,
        warmup_seconds=args.warmup_seconds, time_budget=args.time_budget,
        memory_budget=args.memory_budget_gb * 1e9, memory=not args.no_memory, progress=not args.no_progress,
        profile=args.profile, isolate=args.isolate, rounds=args.rounds,
    )  # fmt: skip
    print(f"device: {describe_device(torch.device(args.device))}; dim={args.dim}, batch={args.batch}, "
          f"dtype={args.dtype}; torch {torch.__version__}")
    print(format_table(results))
    if args.profile:
        print("\n" + format_profile(results))
    print("\nfitted log-log slopes of time vs tokens (grids >= 64x64):")
    for label, slope in slopes(results).items():
        print(f"  {label}: {slope:.2f}")
    checks = target_checks(results)
    if checks:
        where = "" if args.device == "cpu" else " (set for a 2-core CPU; on a GPU for information)"
        print(f"\ntargets{where}:\n" + format_checks(checks))
    paired = None
    if args.paired:
        grid = max(args.grids)
        paired = measure_target_pairs(grid, args.dim, args.batch, args.dtype, args.device, cycles=args.paired,
                                      warmup_seconds=args.warmup_seconds, isolate=args.device == "cpu",
                                      progress=not args.no_progress)  # fmt: skip
        print(f"\npaired targets (each pair timed alternately in one process, {args.paired} cycles; median ratio "
              f"of the cycles):\n" + format_pairs(paired))
    if args.out:
        command = "python -m afno_tutorial.bench " + " ".join(
            a if a.replace(".", "").replace("-", "").replace("_", "").isalnum() else repr(a)
            for a in (sys.argv[1:] if argv is None else argv)
        )
        paths = save_results(results, args.out, command, paired)
        from ..viz.scaling import plot_scaling

        figure = plot_scaling(results)
        png = Path(args.out).with_suffix(".png")
        figure.savefig(png, dpi=120, bbox_inches="tight")
        print("\nwrote " + ", ".join(str(p) for p in [*paths, png]))
    return 0
