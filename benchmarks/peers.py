"""AFNO2d against NVIDIA's two reference AFNO2D modules, timed alternately (paired) on this machine.

The peers are loaded from their source files at paths you give (their code is not part of this project):

- AFNO-transformer (github.com/NVlabs/AFNO-transformer), ``afno/afno2d.py``: ``AFNO2D``, tokens ``(B, N, C)``;
- FourCastNet (github.com/NVlabs/FourCastNet), ``networks/afnonet.py``: ``AFNO2D``, tokens ``(B, H, W, C)``.

Each peer's state_dict is loaded into an ``AFNO2d(..., inner_skip=True)`` that computes the same bins, and the
outputs are checked to match (the reference's skip inside the mixer is what ``inner_skip`` reproduces); then
forward (under ``torch.no_grad``) and forward+backward of each peer are timed alternately with that ``AFNO2d`` on
our readable path (``path="plain"``) and on our default path (:func:`afno_tutorial.bench.paired.paired_times`: the
median of the per-cycle time ratios, and its quartiles).

Which bins each peer computes at its default hard-thresholding fraction 1: AFNO-transformer keeps every bin, as
``AFNO2d()`` does. FourCastNet keeps ``H//2 + 1`` columns, counted from the row axis's size, so on a grid wider than
tall it drops columns (at 90x180 it keeps 46 of the 91): there it is matched by ``AFNO2d(modes=(H//2+1, H//2+1))``.

    python benchmarks/peers.py --afno-transformer PATH/AFNO-transformer --fourcastnet PATH/FourCastNet \\
        --out benchmarks/cpu_2threads_peers.json

A module that FourCastNet's file imports for its other classes and that is not installed (``timm``, ``einops``,
its own ``utils``, ``numpy.lib.arraypad`` on NumPy 2) is replaced by an empty stand-in while the file is imported;
its ``AFNO2D`` uses none of them. The JSON lists the stand-ins and the SHA-256 of each source file.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.abc
import importlib.util
import sys
import types
from pathlib import Path

import torch
from torch import nn

from afno_tutorial import AFNO2d
from afno_tutorial.bench import make_step
from afno_tutorial.bench.paired import paired_times
from afno_tutorial.bench.results import save_script_results
from afno_tutorial.config import describe_device

SHAPES = ((1, 90, 180, 768), (8, 56, 56, 384), (32, 14, 14, 384))
PEER_FILES = {"afno-transformer": "afno/afno2d.py", "fourcastnet": "networks/afnonet.py"}


class _Placeholder:
    """What a stand-in module hands out: callable, subscriptable, never used by the peers' AFNO2D."""

    def __call__(self, *args, **kwargs):
        return self

    def __getattr__(self, name: str):
        return self

    def __getitem__(self, key):
        return self

    def __mro_entries__(self, bases):
        return (object,)


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds (last, after every real finder) an empty stand-in for any module that is not installed."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name, path, target=None):
        self.names.append(name)
        return importlib.util.spec_from_loader(name, self, is_package=True)

    def create_module(self, spec):
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = _stand_in_attribute
        return module

    def exec_module(self, module) -> None:
        pass


def _stand_in_attribute(name: str) -> _Placeholder:
    if name.startswith("__"):
        raise AttributeError(name)
    return _Placeholder()


def load_peer(path: Path, name: str) -> tuple[type, list[str]]:
    """The ``AFNO2D`` class of the source file ``path`` (imported with :mod:`importlib`), and the stand-ins used."""
    spec = importlib.util.spec_from_file_location(f"peer_{name.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    stand_ins = _StandIns()
    before = set(sys.modules)
    sys.meta_path.append(stand_ins)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.meta_path.remove(stand_ins)
        for added in set(sys.modules) - before:  # the stand-ins only lived for this import
            if added in stand_ins.names:
                del sys.modules[added]
    return module.AFNO2D, sorted(set(stand_ins.names))


class TokensAsSequence(nn.Module):
    """AFNO-transformer's ``AFNO2D`` takes ``(B, N, C)`` and the grid size: ``(B, H, W, C)`` in and out."""

    def __init__(self, peer: nn.Module) -> None:
        super().__init__()
        self.peer = peer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, channels = x.shape
        out = self.peer(x.reshape(batch, height * width, channels), spatial_size=(height, width))
        return out.reshape(batch, height, width, channels)


OURS = {"ours, readable": "plain", "ours, default": "auto"}


def build(classes: dict[str, type], shape: tuple[int, int, int, int], seed: int = 0) -> tuple[dict, dict]:
    """``(modules, parity)`` at ``shape``: ``modules[peer]`` the peer, ``modules[(peer, ours)]`` our mixer on that path
    computing the peer's bins, all with the same weights; ``parity`` the max difference of each pair's outputs."""
    batch, height, width, dim = shape
    torch.manual_seed(seed)
    state = AFNO2d(dim, num_blocks=8).state_dict()
    # FourCastNet's kept set: every row, the first H//2 + 1 columns (all of them on a square grid)
    kept = {"afno-transformer": None, "fourcastnet": (height // 2 + 1, min(height // 2 + 1, width // 2 + 1))}
    modules: dict = {}
    for name, cls in classes.items():
        peer = cls(dim, num_blocks=8)
        peer.load_state_dict(state)  # the same parameter names and shapes
        modules[name] = TokensAsSequence(peer) if name == "afno-transformer" else peer
        for ours, path in OURS.items():
            modules[(name, ours)] = AFNO2d(dim, num_blocks=8, modes=kept[name], inner_skip=True, path=path)
            modules[(name, ours)].load_state_dict(state)
    parity = {}
    x = torch.randn(shape)
    with torch.no_grad():
        for name in classes:
            expected = modules[name](x)
            for ours in OURS:
                got = modules[(name, ours)](x)
                torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)  # raises if they differ
                parity[f"{ours} vs {name}"] = float((got - expected).abs().max())
    return modules, parity


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--afno-transformer", type=Path, required=True, help="checkout of NVlabs/AFNO-transformer")
    p.add_argument("--fourcastnet", type=Path, required=True, help="checkout of NVlabs/FourCastNet")
    p.add_argument("--shapes", default=";".join(",".join(map(str, s)) for s in SHAPES),
                   help="B,H,W,C;B,H,W,C;... (default: the three shapes of the targets)")
    p.add_argument("--cycles", type=int, default=11)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    roots = {"afno-transformer": args.afno_transformer, "fourcastnet": args.fourcastnet}
    classes, sources = {}, {}
    for name, root in roots.items():
        path = root / PEER_FILES[name] if root.is_dir() else root
        classes[name], stand_ins = load_peer(path, name)
        sources[name] = {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                         "stand_ins": stand_ins}
    cpu = torch.device("cpu")
    print(f"device: {describe_device(cpu)}; {args.cycles} cycles per pair")
    rows, parity = [], {}
    for text in args.shapes.split(";"):
        shape = tuple(int(v) for v in text.split(","))
        modules, parity[text] = build(classes, shape)
        print(f"{text}: outputs match the peers (max |difference| {max(parity[text].values()):.1e})")
        x = torch.randn(shape)
        for mode in ("forward", "backward"):
            for ours in OURS:
                for peer in classes:
                    stats = paired_times(make_step(modules[peer], x, mode), make_step(modules[(peer, ours)], x, mode),
                                         cpu, cycles=args.cycles)
                    row = {"shape": list(shape), "mode": mode, "ours": ours, "peer": peer,
                           "speedup": stats["ratio"], "speedup_q1": stats["ratio_q1"],
                           "speedup_q3": stats["ratio_q3"], "peer_s": stats["time_a_s"], "ours_s": stats["time_b_s"],
                           "cycles": stats["cycles"]}  # fmt: skip
                    rows.append(row)
                    print(f"{text} {mode:8s} {ours:15s} vs {peer:16s}: {stats['ratio']:.2f}x faster "
                          f"[{stats['ratio_q1']:.2f}-{stats['ratio_q3']:.2f}]  ({1e3 * stats['time_a_s']:.1f} ms "
                          f"against {1e3 * stats['time_b_s']:.1f} ms)", flush=True)
    print(format_summary(rows))
    if args.out:
        save_script_results(args.out, "peers.py", argv, rows, peers=sources, parity_max_abs_difference=parity)
    return 0


def format_summary(rows: list[dict]) -> str:
    """One line per shape, mode and our path: the speed-up against the faster peer (the smaller of the two)."""
    lines = ["shape | mode | ours | speed-up against the faster peer (median of cycles) | that peer"]
    keys = sorted({(tuple(r["shape"]), r["mode"], r["ours"]) for r in rows}, key=lambda k: (k[0][1] * k[0][2], k[1:]))
    for key in keys:
        worst = min((r for r in rows if (tuple(r["shape"]), r["mode"], r["ours"]) == key), key=lambda r: r["speedup"])
        lines.append(f"{key[0]} | {key[1]} | {key[2]} | {worst['speedup']:.2f}x | {worst['peer']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
