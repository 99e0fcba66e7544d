"""Figure of a SegFormer cost run: ``python benchmarks/segformer/plot.py benchmarks/segformer/cpu_2threads.json``.

Reads the JSON written by ``python -m afno_tutorial.segformer.costs --out ...`` and writes the PNG beside it
(measured time and peak memory of a forward and a training step per configuration, skipped ones at their
predicted time), then prints the table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from afno_tutorial.segformer.costs import table
from afno_tutorial.viz.segformer import plot_measured_costs


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    path = Path(argv[0])
    results = json.loads(path.read_text())
    png = path.with_suffix(".png")
    plot_measured_costs(results).savefig(png, dpi=110, bbox_inches="tight")
    print(table(results))
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
