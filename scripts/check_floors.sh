#!/usr/bin/env bash
# Check that the version floors declared in pyproject.toml are true: build a virtual environment with every
# requirement "name>=X" of the dependencies and of the optional extras (all but "lab", which the tests do not use)
# installed at exactly X, then run the README's test command in it.
#
#   bash scripts/check_floors.sh [VENV]        # VENV defaults to .floors-venv (git-ignored); rebuilt every time
#
# PyTorch's older releases on PyPI are CUDA builds for Linux (about 3 GB with their NVIDIA libraries; the CPU
# runs them without a GPU). Pip's own settings apply: PIP_FIND_LINKS=<folder of wheels> avoids the download,
# PIP_EXTRA_INDEX_URL=<an index with CPU wheels> makes it smaller. PYTHON picks the interpreter (default
# python3.11). Takes about 10-20 minutes of CPU on 2 cores, most of it the test command.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${1:-.floors-venv}"
PYTHON="${PYTHON:-python3.11}"

"$PYTHON" -m venv --clear "$VENV"
. "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip

# name>=X -> name==X for every requirement; a requirement without a floor is an error (floors must be declared).
mapfile -t FLOORS < <(python - <<'EOF'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
requirements = list(project["dependencies"])
for extra, reqs in project.get("optional-dependencies", {}).items():
    if extra != "lab":
        requirements += reqs
missing = []
for req in requirements:
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*(,.*)?", req)
    if match is None:
        missing.append(req)
    else:
        print(f"{match.group(1)}{match.group(2) or ''}=={match.group(3)}")
if missing:
    sys.exit(f"requirements without a floor (name>=X): {missing}")
EOF
)
echo "floors: ${FLOORS[*]}"
python -m pip install --quiet --only-binary=:all: "${FLOORS[@]}"
python -m pip install --quiet --no-deps -e .
python - "${FLOORS[@]}" <<'EOF'
import importlib.metadata as md, platform, re, sys
names = [re.split(r"[\[=]", floor)[0] for floor in sys.argv[1:]]
print("python", platform.python_version(), "|", ", ".join(f"{n} {md.version(n)}" for n in names))
EOF

# README test command (the same line as in .ci/run):
AFNO_TUTORIAL_FAST=1 python -m pytest -q --nbval-lax --nbval-current-env --nbval-cell-timeout=300 tests notebooks
