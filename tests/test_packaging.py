"""The launch files agree with pyproject.toml, CI runs the README's test command, notebooks pair with sources."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# pip name -> conda-forge name where they differ (CPU PyTorch has its own conda-forge package).
CONDA_NAME = {"torch": "pytorch-cpu"}

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _conda_packages(path: Path) -> set[str]:
    names, in_dependencies = set(), False
    for line in path.read_text().splitlines():
        if not line.startswith(" "):
            in_dependencies = line.startswith("dependencies:")
            continue
        match = re.match(r"^  - ([A-Za-z0-9_.-]+)", line)  # direct entries, not the nested pip list
        if in_dependencies and match and match.group(1) not in {"pip", "python"}:
            names.add(match.group(1).lower())
    return names


def _wanted(*extras: str) -> set[str]:
    project = _pyproject()["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return {CONDA_NAME.get(_name(r), _name(r)) for r in reqs}


def _floors(requirements: list[str]) -> dict[str, str]:
    return {_name(r): r.split(">=", 1)[1] for r in requirements if ">=" in r}


def _conda_floors(path: Path) -> dict[str, str]:
    found = re.finditer(r"^  - ([A-Za-z0-9_.-]+)>=([0-9][^\s]*)$", path.read_text(), flags=re.M)
    return {m.group(1).lower(): m.group(2) for m in found if m.group(1) != "python"}


def test_requirements_are_floors_not_pins():
    """Every requirement but the "lab" extra's is ``name>=X``: a floor that scripts/check_floors.sh installs and
    tests."""
    project = _pyproject()["project"]
    extras = [r for name, reqs in project["optional-dependencies"].items() if name != "lab" for r in reqs]
    for requirement in project["dependencies"] + extras:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+(\[[^\]]*\])?>=[0-9][0-9.]*", requirement), requirement


def test_conda_environments_declare_the_same_floors():
    project = _pyproject()["project"]
    wanted = {CONDA_NAME.get(k, k): v for k, v in _floors(project["dependencies"]).items()}
    tests = {CONDA_NAME.get(k, k): v for k, v in _floors(project["optional-dependencies"]["test"]).items()}
    assert _conda_floors(ROOT / "environment.yml") == {**wanted, **tests}
    lab = {CONDA_NAME.get(k, k): v for k, v in _floors(project["optional-dependencies"]["lab"]).items()}
    assert _conda_floors(ROOT / "binder" / "environment.yml") == {**wanted, **lab}


def test_the_floors_script_runs_the_readme_test_command():
    script = (ROOT / "scripts" / "check_floors.sh").read_text().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = [line for line in ci if "pytest" in line and not line.startswith("#")]
    assert command and command[0] in script
    assert "bash scripts/check_floors.sh" in (ROOT / "README.md").read_text()


def test_root_environment_has_every_package():
    assert _conda_packages(ROOT / "environment.yml") == _wanted("lab", "test")


def test_binder_environment_has_runtime_and_lab_packages():
    assert _conda_packages(ROOT / "binder" / "environment.yml") == _wanted("lab")
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    command = [line for line in ci_lines if "pytest" in line and not line.startswith("#")]
    assert len(command) == 1
    readme = (ROOT / "README.md").read_text()
    assert command[0].replace("python -m pytest", "pytest") in readme
    assert "pip install torch==2.13.0" in readme and 'pip install -e ".[test]"' in readme


def _sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def test_every_notebook_has_a_source_and_is_committed_executed():
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "no notebooks found"
    assert [p.stem for p in notebooks] == [p.stem for p in _sources()]


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.stem)
def test_notebook_is_in_sync_with_its_py_percent_source(source):
    jupytext = pytest.importorskip("jupytext")
    paired = jupytext.read(source)
    notebook = jupytext.read(source.with_suffix(".ipynb"))
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(notebook) == cells(paired), f"run: python scripts/build_notebooks.py {source.relative_to(ROOT)}"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert any(c.get("outputs") for c in code), "commit the notebook executed"


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.stem)
def test_notebook_opens_with_badges_and_a_colab_guard(source):
    jupytext = pytest.importorskip("jupytext")
    cells = jupytext.read(source).cells
    name = source.stem + ".ipynb"
    assert cells[0].cell_type == "markdown"
    assert f"colab.research.google.com/github/afno-tutorial/afno-tutorial/blob/main/notebooks/{name}" in cells[0].source
    assert f"urlpath=lab/tree/notebooks/{name}" in cells[0].source
    assert '"google.colab" in sys.modules' in cells[1].source and "%pip" not in cells[1].source


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.stem)
def test_markdown_has_no_control_characters_or_stray_lines(source):
    """LaTeX written through a Python string loses its backslashes: ``\\times`` becomes a tab, ``\\rangle`` a line
    break. Both show up as control characters or as markdown lines without the ``#`` of the py:percent format."""
    in_markdown = False
    for number, line in enumerate(source.read_text().split("\n"), start=1):
        assert not re.search(r"[\x00-\x08\x0b-\x1f]", line), f"{source.name}:{number}: control character"
        if line.startswith("# %%"):
            in_markdown = "[markdown]" in line
        elif in_markdown and line.strip():
            assert line.startswith("#"), f"{source.name}:{number}: markdown line without '#': {line[:60]!r}"


def _kernelspec_ipykernel_installs() -> dict:
    kernelspec = pytest.importorskip("ipykernel.kernelspec")
    spec = kernelspec.get_kernel_dict()
    return {"name": kernelspec.KERNEL_NAME, "display_name": spec["display_name"], "language": spec["language"]}


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.stem)
def test_notebook_names_the_kernel_jupyterlab_will_write(source):
    """JupyterLab writes the running kernel's spec into the metadata of a notebook it opens: a stored spec that
    differs (the display name "Python 3" where ipykernel's kernel says "Python 3 (ipykernel)") marks the notebook
    modified a second after it opens. With jupytext's contents manager the paired source's header is what it reads.
    ``python scripts/build_notebooks.py`` writes the right one into both."""
    jupytext = pytest.importorskip("jupytext")
    expected = _kernelspec_ipykernel_installs()
    assert json.loads(source.with_suffix(".ipynb").read_text())["metadata"]["kernelspec"] == expected
    assert jupytext.read(source).metadata["kernelspec"] == expected


@pytest.mark.parametrize("source", _sources(), ids=lambda p: p.stem)
def test_committed_notebook_shows_no_stale_progress_or_raw_widget(source):
    """What JupyterLab, GitHub and nbviewer show of a widget before the notebook runs is its text form: a tqdm bar's
    is the "0%" of its creation and a slider's its raw repr, unless the build rewrote them (finished bar, one line)."""
    found = []
    for number, cell in enumerate(json.loads(source.with_suffix(".ipynb").read_text())["cells"]):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            texts = ["".join(output.get("text", ""))] if output.get("output_type") == "stream" else []
            texts += ["".join(data["text/plain"])] if "text/plain" in data else []
            for text in texts:
                if re.search(r"(^|\s)0%\|", text):
                    found.append(f"cell {number}: progress bar at 0%: {text.strip()[:60]}")
                if "application/vnd.jupyter.widget-view+json" in data and re.match(r"\s*[A-Z][A-Za-z]*\(", text):
                    found.append(f"cell {number}: raw widget repr: {text.strip()[:60]}")
    assert not found, f"run: python scripts/build_notebooks.py {source.relative_to(ROOT)}\n" + "\n".join(found)
