"""Where AFNO's time goes on a GPU: CUDA kernel time per operator (torch.profiler) against the wall time of a call.

    python benchmarks/gpu_profile.py [--grids 256 512] [--out FILE.json]

For each grid, dtype (float32, bfloat16) and mode (forward under no_grad, forward+backward): the median wall time
of a call (synchronised), the summed kernel time of one profiled call and the operators with the most kernel
time. Wall time well above kernel time means the call is bound by the host (Python and dispatch), not the GPU.
"""

from __future__ import annotations

import argparse
import json

import torch
from torch.profiler import ProfilerActivity, profile

from afno_tutorial.bench import make_step
from afno_tutorial.measure import time_step
from afno_tutorial.mixers import AFNO2d


def kernel_profile(step, runs: int = 3, top: int = 8) -> tuple[float, dict[str, float]]:
    """Seconds of CUDA kernels per call, and the ``top`` operators by their own kernel time (seconds per call)."""
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(runs):
            step()
        torch.cuda.synchronize()
    events = prof.key_averages()
    attr = "self_device_time_total" if hasattr(events[0], "self_device_time_total") else "self_cuda_time_total"
    timed = {e.key: getattr(e, attr) * 1e-6 / runs for e in events if getattr(e, attr) > 0}
    # Each kernel's time shows twice: under its own name and under the aten operator that launched it. The total
    # counts kernels (and copies) once; the breakdown names the operators.
    total = sum(v for k, v in timed.items() if not k.startswith("aten::"))
    ops = {k: v for k, v in timed.items() if k.startswith("aten::")}
    return total, dict(sorted(ops.items(), key=lambda kv: -kv[1])[:top])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grids", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    dev = torch.device("cuda")
    rows = []
    for grid in args.grids:
        for dtype in (torch.float32, torch.bfloat16):
            for mode in ("forward", "backward"):
                torch.manual_seed(0)
                module = AFNO2d(args.dim).to(dev, dtype)
                x = torch.randn(1, grid, grid, args.dim, device=dev, dtype=dtype)
                step = make_step(module, x, mode)
                wall = time_step(step, dev, repeats=20, warmup_seconds=0.2)[0]
                kernels, ops = kernel_profile(step)
                rows.append({"grid": grid, "tokens": grid * grid, "dtype": str(dtype).removeprefix("torch."),
                             "mode": mode, "wall_s": wall, "kernel_s": kernels, "ops": ops})
                print(f"{grid}x{grid} {rows[-1]['dtype']:8s} {mode:8s} wall {wall * 1e3:7.3f} ms, "
                      f"kernels {kernels * 1e3:7.3f} ms | " + ", ".join(f"{k} {v * 1e3:.3f}" for k, v in ops.items()))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, handle,
                      indent=1)


if __name__ == "__main__":
    main()
