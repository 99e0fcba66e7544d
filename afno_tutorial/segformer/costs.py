"""What SegFormer's token mixers cost: parameters and FLOPs per stage, time and peak memory of a forward and of one
training step.

``python -m afno_tutorial.segformer.costs --help``. Each configuration is a SegFormer with its attention kept
(SegFormer's efficient attention, or full attention with reduction ratio 1) or replaced by a mixer in stage 1 or
in every stage. Every measurement runs in a fresh Python process, so one configuration's memory does not blur
the next. Time: the median of up to ``--repeats`` calls after a first (warm-up) call. Peak memory: what the first
call adds to the process (CPU: the peak resident set above what was resident before; CUDA: the peak of
``torch.cuda.max_memory_allocated`` above what was allocated). A configuration whose time, predicted from the
slope of its two largest measured sizes, exceeds ``--time-budget`` is skipped and reported with that estimate.

FLOPs (theoretical, forward, multiply-add = 2): matrix products and convolutions as ``torch.utils.flop_counter``
counts them (run on the meta device, nothing computed), with each attention slot replaced by its own count: the
mixer's from :func:`afno_tutorial.flops.mixer_flops`, SegFormer's attention from :func:`attention_flops`.
"""

from __future__ import annotations

import argparse
import copy
import csv
import gc
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..config import describe_device, versions
from ..flops import mixer_flops
from ..measure import peak_memory_bytes, time_step
from ..train import autocast
from .engine import segmentation_loss, write_json
from .model import MixerAdapter, attention_shape, attention_slots, build_segformer, mixer_names

# name -> how to build it: the mixer, the stages it fills, the reduction ratios of the attention that stays.
CONFIGURATIONS: dict[str, dict] = {
    "efficient attention": {"mixer": "attention", "stages": None, "sr_ratios": None},
    "full attention, stage 1": {"mixer": "attention", "stages": None, "sr_ratios": (1, 4, 2, 1)},
    "AFNO, stage 1": {"mixer": "afno", "stages": (1,), "sr_ratios": None},
    "GFN, stage 1": {"mixer": "gfn", "stages": (1,), "sr_ratios": None},
    "full attention, all stages": {"mixer": "attention", "stages": None, "sr_ratios": (1, 1, 1, 1)},
    "AFNO, all stages": {"mixer": "afno", "stages": None, "sr_ratios": None},
    "GFN, all stages": {"mixer": "gfn", "stages": None, "sr_ratios": None},
}
MODES = ("forward", "train")


def build_configuration(name: str, variant: str = "b3", image_size: int = 1024, num_labels: int = 19) -> nn.Module:
    """The SegFormer of configuration ``name`` (a key of :data:`CONFIGURATIONS`), seeded, in float32."""
    if name not in CONFIGURATIONS:
        raise ValueError(f"name: expected one of {list(CONFIGURATIONS)}, got {name!r}")
    spec = CONFIGURATIONS[name]
    torch.manual_seed(0)
    return build_segformer(variant, num_labels, spec["mixer"], sr_ratios=spec["sr_ratios"], image_size=image_size,
                           **({"stages": spec["stages"]} if spec["mixer"] != "attention" else {}))  # fmt: skip


def attention_flops(module: nn.Module, height: int, width: int, batch: int = 1) -> dict[str, float]:
    """Forward FLOPs of SegFormer's efficient attention on an ``(H, W)`` grid.

    Queries from all ``N = HW`` tokens; keys and values from the grid shrunk by a ``R x R`` convolution of stride
    ``R`` (``N_r = (H // R)(W // R)`` tokens). Query and output projections ``2 x 2NC^2``, the reduction
    ``2 N_r C^2 R^2`` (about ``2NC^2``), key and value projections ``2 x 2 N_r C^2``, scores and weighted sum
    ``2 x 2 N N_r C``, softmax ``5 N N_r`` per head.
    """
    channels, heads, ratio = attention_shape(module)
    tokens = height * width
    reduced = (height // ratio) * (width // ratio) if ratio > 1 else tokens
    projections = 2 * 2.0 * tokens * channels**2 + 2 * 2.0 * reduced * channels**2
    reduction = 2.0 * reduced * channels**2 * ratio**2 if ratio > 1 else 0.0
    scores = 2 * 2.0 * tokens * reduced * channels
    pointwise = 5.0 * heads * tokens * reduced
    counts = {"projections": projections + reduction, "scores": scores, "pointwise": pointwise}
    counts = {key: value * batch for key, value in counts.items()}
    counts["total"] = sum(counts.values())
    return counts


def slot_flops(module: nn.Module, height: int, width: int, batch: int = 1) -> float:
    """Forward FLOPs of what fills one attention slot (a :class:`MixerAdapter` or SegFormer's attention)."""
    if isinstance(module, MixerAdapter):
        return mixer_flops(module.mixer, (height, width), batch)["total"]
    return attention_flops(module, height, width, batch)["total"]


class _GridProbe(nn.Module):
    """Stands in an attention slot of the meta-device copy: records the grid, returns zeros, counts nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.grid: tuple[int, int] | None = None

    def forward(self, hidden_states: torch.Tensor, height: int, width: int, *args, **kwargs):
        self.grid = (int(height), int(width))
        return torch.zeros_like(hidden_states), None


def model_costs(model: nn.Module, image_size: int | tuple[int, int] = 1024, batch: int = 1) -> dict:
    """Parameters and theoretical forward FLOPs of ``model`` per stage, for a ``(batch, 3, *image_size)`` input.

    Returns ``{"stages": [{"stage", "grid", "tokens", "mixer", "mixer_params", "stage_params", "mixer_flops",
    "stage_flops"}, ...], "decode_head": {"params", "flops"}, "params", "flops"}``. ``stage_params`` and
    ``stage_flops`` include the stage's mixers; ``params`` and ``flops`` are the whole model's.
    """
    from torch.utils.flop_counter import FlopCounterMode

    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    # A copy on the meta device with a probe in every attention slot: shapes propagate, nothing is computed, and
    # the counter sees everything but the slots, which are counted from their own formulas below.
    meta = copy.deepcopy(model).to("meta").eval()
    probes = []
    for slot in attention_slots(meta):
        probes.append(_GridProbe())
        slot.layer.attention = probes[-1]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        meta(torch.empty(batch, 3, height, width, device="meta"))
    counted = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    prefix = type(meta).__name__
    names = {id(module): f"{prefix}.{name}" if name else prefix for name, module in meta.named_modules()}
    mixers = mixer_names(model)
    stages: dict[int, dict] = {}
    for probe, slot in zip(probes, attention_slots(model)):
        h, w = probe.grid
        row = stages.setdefault(slot.stage, {"stage": slot.stage, "grid": (h, w), "tokens": h * w,
                                             "mixer": mixers[slot.stage], "mixer_params": 0, "stage_params": 0,
                                             "mixer_flops": 0.0, "stage_flops": 0.0})  # fmt: skip
        row["mixer_params"] += sum(p.numel() for p in slot.module.parameters())
        row["mixer_flops"] += slot_flops(slot.module, h, w, batch)
    for stage, (modules, real) in enumerate(zip(_stage_modules(meta), _stage_modules(model)), start=1):
        stages[stage]["stage_params"] = sum(p.numel() for module in real for p in module.parameters())
        stages[stage]["stage_flops"] = float(sum(counted.get(names[id(m)], 0) for m in modules))
        stages[stage]["stage_flops"] += stages[stage]["mixer_flops"]
    head = {"params": sum(p.numel() for p in model.decode_head.parameters()),
            "flops": float(counted.get(names[id(meta.decode_head)], 0))}  # fmt: skip
    rows = [stages[s] for s in sorted(stages)]
    return {"stages": rows, "decode_head": head, "params": sum(p.numel() for p in model.parameters()),
            "flops": sum(r["stage_flops"] for r in rows) + head["flops"]}  # fmt: skip


def _stage_modules(model: nn.Module) -> list[list[nn.Module]]:
    """The modules making up each encoder stage (patch embedding, layers, norm), transformers 4.x or 5.x."""
    base = model.segformer
    if hasattr(base, "stages"):
        return [[stage] for stage in base.stages]
    enc = base.encoder
    return [[enc.patch_embeddings[i], enc.block[i], enc.layer_norm[i]] for i in range(len(enc.block))]


# ---------------------------------------------------------------------------------------------------------------
# Time and peak memory of one call


def _release_free_heap() -> None:
    """Hand memory the C allocator keeps after frees back to the system (glibc), so that the resident set before a
    call counts live memory only and the call's own allocations show in its peak."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass


def make_call(model: nn.Module, mode: str, image_size: int, batch: int, dev: torch.device) -> Callable[[], None]:
    """One forward (``"forward"``, no gradients) or one training step (``"train"``: forward, loss, backward, AdamW)."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, image_size, image_size, generator=gen).to(dev)
    masks = torch.randint(0, model.config.num_labels, (batch, image_size, image_size), generator=gen).to(dev)
    model.to(dev)
    if mode == "forward":
        model.eval()

        def call() -> None:
            with torch.no_grad(), autocast(dev):
                model(images).logits.sum().item()

        return call
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def step() -> None:
        with autocast(dev):
            logits = model(images).logits
        loss = segmentation_loss(logits, masks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()

    return step


def measure(name: str, mode: str, image_size: int, *, variant: str = "b3", batch: int = 1, device: str = "cpu",
            repeats: int = 3, max_seconds: float = 120.0) -> dict:  # fmt: skip
    """Peak memory of the first call of configuration ``name`` in ``mode``
    (:func:`afno_tutorial.measure.peak_memory_bytes`; on the CPU the resident set, after the C allocator has returned
    its free memory), then its time (:func:`afno_tutorial.measure.time_step`: a warm-up call, then the median of up
    to ``repeats`` calls that fit in ``max_seconds``), in this process. When the first call alone took longer than
    ``max_seconds``, its time is the result (``"timed": "first call"``)."""
    dev = torch.device(device)
    call = make_call(build_configuration(name, variant, image_size), mode, image_size, batch, dev)
    if dev.type == "cpu":
        _release_free_heap()
    start = time.perf_counter()
    peak = peak_memory_bytes(call, dev, method="rss")
    first = time.perf_counter() - start
    if first > max_seconds:
        return {"time_s": first, "times": [first], "first_s": first, "peak_bytes": peak, "timed": "first call"}
    seconds, times = time_step(call, dev, repeats=repeats, warmup=1, max_seconds=max_seconds, warmup_seconds=0.0)
    return {"time_s": seconds, "times": times, "first_s": first, "peak_bytes": peak,
            "timed": f"median of {len(times)} after a warm-up"}


def measure_subprocess(name: str, mode: str, image_size: int, timeout: float = 3600.0, **kwargs) -> dict:
    """:func:`measure` in a fresh Python process (with this process's thread count)."""
    task = {"name": name, "mode": mode, "image_size": image_size, "threads": torch.get_num_threads(), **kwargs}
    result = subprocess.run([sys.executable, "-m", "afno_tutorial.segformer.costs", "--_child", json.dumps(task)],
                            capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"{name} {mode} {image_size}: the measuring process failed: {result.stderr.strip()[-800:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def largest_batch(fits: Callable[[int], bool], limit: int = 256) -> int:
    """The largest batch ``b <= limit`` with ``fits(b)`` (doubling, then bisecting); 0 if not even 1 fits."""
    low, high = 0, 1
    while high <= limit and fits(high):
        low, high = high, high * 2
    high = min(high, limit + 1)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def predict_seconds(sizes: list[int], seconds: list[float], size: int) -> float:
    """Time at ``size`` extrapolated along the log-log line through the two largest measured sizes."""
    if len(sizes) < 2:
        return math.nan
    (s0, t0), (s1, t1) = sorted(zip(sizes, seconds))[-2:]
    slope = math.log(t1 / t0) / math.log(s1 / s0)
    return t1 * (size / s1) ** slope


def _fits(name: str, mode: str, image_size: int, variant: str, batch: int, dev: torch.device) -> bool:
    """Whether one call of the configuration runs at ``batch`` on a GPU without running out of memory."""
    try:
        call = make_call(build_configuration(name, variant, image_size), mode, image_size, batch, dev)
        call()
        torch.cuda.synchronize(dev)
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        call = None
        gc.collect()
        torch.cuda.empty_cache()


def run(names: list[str], modes: list[str], sizes: list[int], *, variant: str = "b3", batch: int = 1,
        device: str = "cpu", repeats: int = 3, time_budget: float = 300.0, max_batch: int = 0,
        progress: bool = True) -> dict:  # fmt: skip
    """Measure every configuration in ``names`` x ``modes`` x ``sizes`` (ascending), each in a fresh process.

    Returns ``{"rows": [...], "costs": {name: model_costs at the largest size}, "machine": ...}``.
    """
    from tqdm.auto import tqdm

    sizes = sorted(sizes)
    rows, costs = [], {}
    bar = tqdm(total=len(names) * len(modes) * len(sizes), desc="SegFormer costs", disable=not progress)
    for name in names:
        model = build_configuration(name, variant, sizes[-1])
        costs[name] = model_costs(model, sizes[-1], batch)
        for mode in modes:
            done_sizes, done_times = [], []
            for size in sizes:
                counted = model_costs(model, size, batch)
                stage1 = counted["stages"][0]
                row = {"configuration": name, "mode": mode, "image_size": size, "batch": batch,
                       "stage1_tokens": stage1["tokens"], "params": counted["params"],
                       "mixer_params": sum(r["mixer_params"] for r in counted["stages"]),
                       "gflops": counted["flops"] / 1e9, "stage1_mixer_gflops": stage1["mixer_flops"] / 1e9,
                       "mixer_gflops": sum(r["mixer_flops"] for r in counted["stages"]) / 1e9}  # fmt: skip
                estimate = predict_seconds(done_sizes, done_times, size)
                if math.isfinite(estimate) and estimate > time_budget:
                    row.update(status="skipped", estimate_s=estimate, time_s=None, peak_bytes=None)
                else:
                    kwargs = dict(variant=variant, batch=batch, device=device, repeats=repeats,
                                  max_seconds=time_budget)  # fmt: skip
                    row.update(status="measured", **measure_subprocess(name, mode, size, **kwargs))
                    done_sizes.append(size)
                    done_times.append(row["time_s"])
                rows.append(row)
                bar.update(1)
                bar.set_postfix_str(f"{name} {mode} {size}: {row.get('time_s') or row.get('estimate_s'):.3g} s")
            if max_batch and device.startswith("cuda"):
                dev = torch.device(device)
                rows[-1]["largest_batch"] = largest_batch(lambda b: _fits(name, mode, sizes[-1], variant, b, dev),
                                                          max_batch)  # fmt: skip
    bar.close()
    return {"rows": rows, "costs": costs, "variant": variant, "device": describe_device(torch.device(device)),
            "versions": versions(), "transformers": _transformers_version()}  # fmt: skip


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def table(results: dict, size: int | None = None) -> str:
    """A markdown table of the results at ``size`` (default: the largest measured)."""
    size = size or max(r["image_size"] for r in results["rows"])
    head = ("| configuration | params (M) | stage-1 mixer GFLOPs | model GFLOPs | forward (s) | forward peak (GB) "
            "| training step (s) | training peak (GB) |\n|---|---:|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    lines = [head]
    for name in dict.fromkeys(r["configuration"] for r in results["rows"]):
        by_mode = {r["mode"]: r for r in results["rows"] if r["configuration"] == name and r["image_size"] == size}
        first = next(iter(by_mode.values()))
        cells = [name, f"{first['params'] / 1e6:.1f}", f"{first['stage1_mixer_gflops']:.1f}", f"{first['gflops']:.0f}"]
        for mode in MODES:
            row = by_mode.get(mode)
            if row is None:
                cells += ["-", "-"]
            elif row["status"] == "skipped":
                cells += [f"skipped (~{row['estimate_s']:.0f} predicted)", "-"]
            else:
                peak = row["peak_bytes"]
                cells += [f"{row['time_s']:.3g}", "-" if peak is None else f"{peak / 1e9:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(path: str | Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row if k != "times"))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in keys})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m afno_tutorial.segformer.costs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--variant", default="b3", help="SegFormer size b0..b5 (default b3)")
    parser.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS), choices=list(CONFIGURATIONS),
                        metavar="NAME", help=f"among {list(CONFIGURATIONS)} (default all)")  # fmt: skip
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024], help="square image sizes")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads on the CPU")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the first (fewer if slow)")
    parser.add_argument("--time-budget", type=float, default=300.0,
                        help="skip a call predicted to take longer than this many seconds (and cap the repeats)")
    parser.add_argument("--max-batch", type=int, default=0, help="on CUDA: also find the largest batch up to this")
    parser.add_argument("--out", default=None, help="write OUT.json and OUT.csv")
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of other configurations already in OUT.json (measured in another run)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child is not None:
        task = json.loads(args._child)
        torch.set_num_threads(task.pop("threads"))
        print(json.dumps(measure(task.pop("name"), task.pop("mode"), task.pop("image_size"), **task)))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    results = run(args.configurations, args.modes, args.sizes, variant=args.variant, batch=args.batch,
                  device=args.device, repeats=args.repeats, time_budget=args.time_budget, max_batch=args.max_batch,
                  progress=not args.no_progress)  # fmt: skip
    command = "python -m afno_tutorial.segformer.costs " + " ".join(argv if argv is not None else sys.argv[1:])
    results["commands"] = [command]
    if args.append and args.out and Path(args.out).with_suffix(".json").exists():
        earlier = json.loads(Path(args.out).with_suffix(".json").read_text())
        mine = set(args.configurations)
        results["rows"] = [r for r in earlier["rows"] if r["configuration"] not in mine] + results["rows"]
        results["costs"] = {**{k: v for k, v in earlier["costs"].items() if k not in mine}, **results["costs"]}
        results["commands"] = earlier.get("commands", []) + [command]
        order = list(CONFIGURATIONS)
        results["rows"].sort(key=lambda r: (order.index(r["configuration"]), r["mode"], r["image_size"]))
    print(f"SegFormer-{args.variant.upper()}, batch {args.batch}, {results['device']}")
    print(table(results))
    if args.out:
        out = Path(args.out)
        write_json(out.with_suffix(".json"), results)
        write_csv(out.with_suffix(".csv"), results["rows"])
        print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
__all__ = ["CONFIGURATIONS", "MODES", "attention_flops", "build_configuration", "largest_batch", "make_call",
           "measure", "measure_subprocess", "model_costs", "predict_seconds", "slot_flops"]  # fmt: skip
