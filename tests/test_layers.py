"""Imports flow one way through the package's layers, with no cycles, lazy imports (inside functions) included.

The layers, bottom to top (a module may import from the layers below its own; within its own layer only from its
own subpackage, e.g. ``bench.cli`` -> ``bench.harness``):

1. the argument checks and the version (``checks``, ``_version``): imported by every other module;
2. the core (``config``, ``spectral``, ``masking``, ``measure``, ``data/``): no model, no mixer;
3. the mixers (``mixers/``, with their registry and FLOP formulas); ``mixers/_cpu`` (the private CPU fast path)
   is entered from ``mixers/afno.py`` alone, and from ``bench/baselines.py``, whose SciPy FFT floor uses the fast
   path's own transforms so that the floor and AFNO run the same FFT code;
4. the models and the training loop they are trained with (``models``, ``loop``);
5. training, FLOP counts and the public API (``train``, ``flops``, the package's ``__init__``);
6. what is built on them: the lessons (``lessons/``), the few-shot pipeline (``fewshot/``), SegFormer
   (``segformer/``) and the benchmark (``bench/``);
7. the figures (``viz/``), which may import any of those to plot their results;
8. the command lines: ``bench/cli.py`` and ``fewshot/cli.py`` (the only modules of their subpackages that draw, so
   they sit above ``viz``; nothing imports them), the ``__main__`` modules that run them, and the entry modules
   ``pretrain`` and ``cityscapes``.

The notebooks, tests, scripts and ``benchmarks/`` import from the top.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "afno_tutorial"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("checks", ("afno_tutorial._version", "afno_tutorial.checks")),
    ("core", ("afno_tutorial.config", "afno_tutorial.spectral", "afno_tutorial.masking", "afno_tutorial.measure",
              "afno_tutorial.data", "afno_tutorial.data.*")),
    ("mixers", ("afno_tutorial.mixers", "afno_tutorial.mixers.*")),
    ("models", ("afno_tutorial.models", "afno_tutorial.loop")),
    ("training, FLOP counts, public API", ("afno_tutorial.train", "afno_tutorial.flops", "afno_tutorial")),
    ("lessons, few-shot, SegFormer, benchmark", tuple(f"afno_tutorial.{name}{tail}" for name in (
        "lessons", "fewshot", "segformer", "bench") for tail in ("", ".*"))),
    ("viz", ("afno_tutorial.viz", "afno_tutorial.viz.*")),
    ("command lines", ("afno_tutorial.bench.cli", "afno_tutorial.bench.__main__", "afno_tutorial.fewshot.cli",
                       "afno_tutorial.fewshot.__main__", "afno_tutorial.pretrain", "afno_tutorial.cityscapes")),
)  # fmt: skip
PRIVATE = "afno_tutorial.mixers._cpu"
PRIVATE_IMPORTERS = ("afno_tutorial.mixers.afno", "afno_tutorial.bench.baselines")


def package_modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its ``__init__.py``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """``(imported module, line, lazy)`` for every import of the package in the module, at any depth; ``from X
    import y`` counts as an import of ``X.y`` where that is a module, else of ``X``."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    lazy_lines = {
        node.lineno
        for scope in ast.walk(tree) if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for node in ast.walk(scope) if isinstance(node, (ast.Import, ast.ImportFrom))
    }  # fmt: skip
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1] + ([node.module] if node.module else [])
                module = ".".join(base)
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known and "." in target:
                target = target.rsplit(".", 1)[0]  # `import afno_tutorial.x.y` of a name below a module
            if target.split(".")[0] == "afno_tutorial" and target in known:
                found.append((target, node.lineno, node.lineno in lazy_lines))
    return found


def layer_of(module: str) -> int:
    """The layer's index (0 at the bottom); a name listed exactly wins over a pattern."""
    for exact in (True, False):
        for index, (_, patterns) in enumerate(LAYERS):
            if any(module == p if exact else fnmatch.fnmatchcase(module, p) for p in patterns if ("*" in p) != exact):
                return index
    raise AssertionError(f"{module}: in no layer; add it to LAYERS in tests/test_layers.py")


def subpackage_of(module: str) -> str:
    """``afno_tutorial.bench`` for ``afno_tutorial.bench.cli``; a top-level module is its own."""
    parts = module.split(".")
    return ".".join(parts[:2])


def layer_violations(edges: list[tuple[str, str, int, bool]]) -> list[str]:
    """The edges ``(importer, imported, line, lazy)`` that go up a layer, sideways out of a subpackage, or into the
    private CPU path from elsewhere."""
    bad = []
    for source, target, line, lazy in edges:
        where = f"{source}:{line}{' (lazy)' if lazy else ''} imports {target}"
        up, down = layer_of(source), layer_of(target)
        if down > up:
            bad.append(f"{where}: up from {LAYERS[up][0]!r} to {LAYERS[down][0]!r}")
        elif down == up and subpackage_of(source) != subpackage_of(target):
            bad.append(f"{where}: sideways within {LAYERS[up][0]!r}, across subpackages")
        if (target == PRIVATE or target.startswith(PRIVATE + ".")) and not (
            source == PRIVATE or source.startswith(PRIVATE + ".") or source in PRIVATE_IMPORTERS
        ):
            bad.append(f"{where}: the private CPU path is entered only from {PRIVATE_IMPORTERS}")
    return bad


def import_cycles(edges: list[tuple[str, str, int, bool]]) -> list[list[str]]:
    """Cycles of the import graph (each as its modules, the first repeated at the end)."""
    graph: dict[str, set[str]] = {}
    for source, target, _, _ in edges:
        if source != target:
            graph.setdefault(source, set()).add(target)
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


@pytest.fixture(scope="module")
def edges() -> list[tuple[str, str, int, bool]]:
    modules = package_modules()
    known = set(modules)
    return [(name, target, line, lazy) for name, path in modules.items()
            for target, line, lazy in imports_of(name, path, known)]  # fmt: skip


def test_every_module_has_a_layer() -> None:
    for module in package_modules():
        layer_of(module)


def test_imports_flow_down_the_layers(edges) -> None:
    assert len(edges) > 50  # the parser sees the package's imports
    assert layer_violations(edges) == []


def test_no_import_cycles(edges) -> None:
    assert import_cycles(edges) == []


def test_lazy_imports_are_seen(edges) -> None:
    lazy = {(source, target) for source, target, _, is_lazy in edges if is_lazy}
    assert ("afno_tutorial.lessons.ladder", "afno_tutorial.train") in lazy  # inside run_ladder


def test_the_checks_catch_what_they_forbid() -> None:
    """The checker itself: an upward import (lazy or not), a sideways one, an entry into the private path and a
    cycle are all reported."""
    assert layer_violations([("afno_tutorial.bench.harness", "afno_tutorial.viz.scaling", 9, True)])
    assert layer_violations([("afno_tutorial.checks", "afno_tutorial.mixers", 1, False)])
    assert layer_violations([("afno_tutorial.fewshot.protocol", "afno_tutorial.bench.harness", 3, False)])
    assert layer_violations([("afno_tutorial.models", "afno_tutorial.mixers._cpu.pocketfft", 5, False)])
    assert not layer_violations([("afno_tutorial.bench.cli", "afno_tutorial.viz.scaling", 2, False),
                                 ("afno_tutorial.bench.cli", "afno_tutorial.bench.harness", 3, False)])
    cycle = import_cycles([("a.x", "a.y", 1, False), ("a.y", "a.z", 1, True), ("a.z", "a.x", 1, False)])
    assert cycle == [["a.x", "a.y", "a.z", "a.x"]]


def test_relative_imports_resolve_to_modules(tmp_path) -> None:
    package = tmp_path / "afno_tutorial"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import leaf\n")
    (package / "sub" / "leaf.py").write_text("from .. import core\n\ndef f():\n    from ..core import thing\n")
    modules = package_modules(package)
    assert set(modules) == {"afno_tutorial", "afno_tutorial.core", "afno_tutorial.sub", "afno_tutorial.sub.leaf"}
    known = set(modules)
    sub = imports_of("afno_tutorial.sub", modules["afno_tutorial.sub"], known)
    assert sub == [("afno_tutorial.sub.leaf", 1, False)]
    assert imports_of("afno_tutorial.sub.leaf", modules["afno_tutorial.sub.leaf"], known) == [
        ("afno_tutorial.core", 1, False), ("afno_tutorial.core", 4, True)]
