"""Regenerate the executed notebooks from their reviewable ``py:percent`` sources.

    python scripts/build_notebooks.py                      # every notebooks/NN_*.py, default (full) setting
    python scripts/build_notebooks.py notebooks/00_quickstart.py
    python scripts/build_notebooks.py --fast ...           # AFNO_TUTORIAL_FAST=1 (what CI checks), not for committing

Each ``notebooks/NN_name.py`` is converted with jupytext to ``NN_name.ipynb`` and executed in place with nbclient,
from the ``notebooks/`` folder, so the committed ``.ipynb`` shows the outputs a reader gets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def build(source: Path, fast: bool, timeout: int) -> Path:
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    env_before = os.environ.get("AFNO_TUTORIAL_FAST")
    if fast:
        os.environ["AFNO_TUTORIAL_FAST"] = "1"
    else:
        os.environ.pop("AFNO_TUTORIAL_FAST", None)
    try:
        start = time.perf_counter()
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(source.parent)}})
        client.execute()
        elapsed = time.perf_counter() - start
    finally:
        if env_before is None:
            os.environ.pop("AFNO_TUTORIAL_FAST", None)
        else:
            os.environ["AFNO_TUTORIAL_FAST"] = env_before
    target = source.with_suffix(".ipynb")
    nbformat.write(notebook, target)
    print(f"{target.relative_to(ROOT)}: executed in {elapsed:.1f} s ({'fast' if fast else 'default'} setting)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="*", type=Path, help="py:percent notebook sources (default: all)")
    parser.add_argument("--fast", action="store_true", help="execute with AFNO_TUTORIAL_FAST=1")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    sources = args.sources or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    for source in sources:
        build(source.resolve(), args.fast, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
