"""Regenerate the executed notebooks from their reviewable ``py:percent`` sources.

    python scripts/build_notebooks.py                      # every notebooks/NN_*.py, default (full) setting
    python scripts/build_notebooks.py notebooks/00_quickstart.py
    python scripts/build_notebooks.py --fast ...           # AFNO_TUTORIAL_FAST=1 (what CI checks), not for committing
    python scripts/build_notebooks.py --finish notebooks/05_few_shot_segmentation.ipynb   # no execution

Each ``notebooks/NN_name.py`` is converted with jupytext to ``NN_name.ipynb`` and executed in place with nbclient,
from the ``notebooks/`` folder, so the committed ``.ipynb`` shows the outputs a reader gets. Then it is *finished*
for readers who see it before running anything (JupyterLab, GitHub, nbviewer), which ``--finish`` also does alone
to an executed notebook:

- the kernelspec is the one ipykernel installs (``python3``, "Python 3 (ipykernel)"). JupyterLab writes the
  running kernel's spec and ``language_info`` into the notebook's metadata when it opens it; any difference from
  the stored values marks a freshly opened notebook as modified ("unsaved") a second or two later, with no user
  action. ``language_info`` comes from the kernel that executed the notebook, so a reader whose Python has another
  version still sees that one change;
- a progress bar (a tqdm widget) shows its last state as text, e.g. ``train: 100%|##########| 400/400 [...]``,
  instead of the ``0%`` that tqdm writes as the text form when the bar is created; the widget's stored state is
  where the last state comes from;
- any other widget (sliders and their figure) shows one line saying it is interactive and what its controls are,
  instead of the widget's raw ``VBox(children=(HBox(...`` repr; a static figure of the default setting belongs in
  the next cell of the source;
- no per-cell execution timestamps (they would change every line of a rebuilt notebook's metadata).
"""

from __future__ import annotations

import argparse
import html
import math
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def kernelspec() -> dict[str, str]:
    """The kernelspec ipykernel installs (``jupyter kernelspec list`` shows it as ``python3``)."""
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    spec = get_kernel_dict()
    return {"name": KERNEL_NAME, "display_name": spec["display_name"], "language": spec["language"]}


def fix_source_kernelspec(source: Path) -> bool:
    """Write :func:`kernelspec` into the jupytext header of ``source``; True if it changed.

    With jupytext's contents manager (``pip install jupytext``) JupyterLab takes a paired notebook's metadata from
    this header, so it must name the same kernel as the ``.ipynb``.
    """
    spec = kernelspec()
    text = source.read_text()
    block = "".join(f"#     {key}: {spec[key]}\n" for key in ("display_name", "language", "name"))
    fixed, count = re.subn(r"(?m)^#   kernelspec:\n(?:#     .*\n)+", lambda _: "#   kernelspec:\n" + block, text, 1)
    if count != 1:
        raise ValueError(f"{source}: no jupytext header with a kernelspec (expected '#   kernelspec:')")
    if fixed != text:
        source.write_text(fixed)
    return fixed != text


def _text(value: str) -> str:
    """A tqdm widget's HTML text as plain text (tqdm writes figure spaces and escapes HTML)."""
    return html.unescape(value).replace("\u2007", " ").replace("\u200b", "")


def _widget_text(model_id: str, state: dict) -> str | None:
    """What a widget's text form should say: a finished progress line, or that the widget is interactive."""
    model = state.get(model_id)
    if model is None:
        return None
    children = [state.get(c.replace("IPY_MODEL_", ""), {}) for c in model["state"].get("children", [])]
    names = [c.get("model_name") for c in children]
    if model.get("model_name") == "HBoxModel" and names == ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        left, bar, right = (c["state"] for c in children)
        done = bar.get("value") or 0.0
        total = bar.get("max") or 0.0
        filled = min(10, math.floor(10 * done / total)) if total and math.isfinite(total) else 0
        return f"{_text(left.get('value', ''))}|{'█' * filled}{' ' * (10 - filled)}|{_text(right.get('value', ''))}"
    controls = []

    def collect(mid: str) -> None:
        m = state.get(mid.replace("IPY_MODEL_", ""), {})
        for child in m.get("state", {}).get("children", []):
            collect(child)
        if m.get("model_name", "").endswith(("SliderModel", "DropdownModel", "CheckboxModel", "ToggleButtonsModel")):
            controls.append(m["state"].get("description") or m["model_name"].removesuffix("Model"))

    collect(model_id)
    what = f" ({', '.join(controls)})" if controls else ""
    return f"Interactive widget{what}: run the notebook to use it."


def finish(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Make an executed notebook read well before it is run (see the module docstring). Changes it in place."""
    notebook.metadata["kernelspec"] = kernelspec()
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                text = _widget_text(data[WIDGET_VIEW].get("model_id", ""), state)
                if text is not None:
                    data["text/plain"] = text
    return notebook


def build(source: Path, fast: bool, timeout: int) -> Path:
    if fix_source_kernelspec(source):
        print(f"{source.relative_to(ROOT)}: kernelspec in the header set to {kernelspec()['display_name']!r}")
    notebook = jupytext.read(source)
    notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    env_before = os.environ.get("AFNO_TUTORIAL_FAST")
    if fast:
        os.environ["AFNO_TUTORIAL_FAST"] = "1"
    else:
        os.environ.pop("AFNO_TUTORIAL_FAST", None)
    try:
        start = time.perf_counter()
        client = NotebookClient(notebook, timeout=timeout, kernel_name=kernelspec()["name"], record_timing=False,
                                resources={"metadata": {"path": str(source.parent)}})
        client.execute()
        elapsed = time.perf_counter() - start
    finally:
        if env_before is None:
            os.environ.pop("AFNO_TUTORIAL_FAST", None)
        else:
            os.environ["AFNO_TUTORIAL_FAST"] = env_before
    target = source.with_suffix(".ipynb")
    nbformat.write(finish(notebook), target)
    print(f"{target.relative_to(ROOT)}: executed in {elapsed:.1f} s ({'fast' if fast else 'default'} setting)")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="*", type=Path, help="py:percent notebook sources (default: all)")
    parser.add_argument("--fast", action="store_true", help="execute with AFNO_TUTORIAL_FAST=1")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--finish", action="store_true",
                        help="only finish the given executed notebooks (and their sources' headers) for readers, "
                             "without executing them")
    args = parser.parse_args(argv)
    if args.finish:
        for path in args.sources or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
            path = path.resolve().with_suffix(".ipynb")
            if path.with_suffix(".py").exists():
                fix_source_kernelspec(path.with_suffix(".py"))
            nbformat.write(finish(nbformat.read(path, as_version=4)), path)
            print(f"{path}: finished (not executed)")
        return 0
    sources = args.sources or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    for source in sources:
        build(source.resolve(), args.fast, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
