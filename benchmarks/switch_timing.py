"""What the setting scripts of this folder share (`buffer_pool.py`; the other, `openmp_release.py`, is removed with
the code it measured): their command line, and timing each case with a setting off and on
(afno_tutorial.bench.paired.compare_switch), printed and saved."""

from __future__ import annotations

import argparse
from typing import Callable

import torch

from afno_tutorial.bench.paired import compare_switch, format_switch
from afno_tutorial.bench.results import save_script_results
from afno_tutorial.config import describe_device


def parser(description: str) -> argparse.ArgumentParser:
    """``--grid``, ``--dim``, ``--cycles``, ``--threads`` and ``--out``."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", type=int, default=256)
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--cycles", type=int, default=41)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="write the results as JSON")
    return p


def run(script: str, args: argparse.Namespace, argv: list[str] | None, switch: Callable[[bool], None],
        cases: dict[str, Callable[[], None]]) -> int:  # fmt: skip
    """Time ``cases`` with ``switch`` off and on, print the ratios and write ``args.out`` (with the command that
    made it, the versions and the device)."""
    cpu = torch.device("cpu")
    print(f"device: {describe_device(cpu)}; grid {args.grid}x{args.grid}, C = {args.dim}, {args.cycles} cycles")
    rows = compare_switch(switch, cases, cpu, cycles=args.cycles)
    print(format_switch(rows))
    if args.out:
        save_script_results(args.out, script, argv, rows)
    return 0
