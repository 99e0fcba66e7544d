"""The scaling benchmark: every registered mixer, time and memory against the number of tokens.

``python -m afno_tutorial.bench --help``. The modules, bottom to top (each imports only those above it in this
list, and the package's lower layers):

- ``baselines``: what mixers are measured against (FFT round trips, a reference-style AFNO, a copy);
- ``specs``: mixer specs (``"afno:num_blocks=4"``), the modules they build, their FLOPs, the timed call;
- ``profile``: a call's time split by kind of work (``torch.profiler``);
- ``paired``: two calls timed alternately in one process (ratios a machine's drift disturbs least);
- ``isolate``: measurements in a fresh process (peak CPU memory, isolated and paired timings);
- ``targets``: the project's performance targets, checked on a run's rows and timed in pairs;
- ``harness``: :func:`run_benchmark` (settings checked first, budgets, rounds) and :func:`sweep_afno`;
- ``results``: the table, fitted slopes and power laws, the CSV/JSON files;
- ``cli``: the command line, the only module that draws (it imports :mod:`afno_tutorial.viz`; nothing imports it).

Timing, peak memory and slope fits themselves are :mod:`afno_tutorial.measure`'s.
"""

from .baselines import BASELINES, CopyFloor, FFTRoundTrip, ReferenceAFNO2d, scipy_round_trip
from .harness import DEFAULT_GRIDS, check_settings, run_benchmark, sweep_afno
from .isolate import measure_memory_subprocess, time_subprocess
from .results import CSV_FIELDS, format_table, load_payload, load_results, power_law, save_results, slopes, tokens_for
from .specs import (
    MODES,
    MixerSpec,
    build_bench_mixer,
    default_mixers,
    make_step,
    parse_mixer_spec,
    setup_step,
    theoretical_flops,
)
from .targets import FLOORS, format_checks, measure_target_pairs, target_checks

__all__ = [
    "BASELINES", "CSV_FIELDS", "DEFAULT_GRIDS", "FLOORS", "MODES", "CopyFloor", "FFTRoundTrip", "MixerSpec",
    "ReferenceAFNO2d", "build_bench_mixer", "check_settings", "default_mixers", "format_checks", "format_table",
    "load_payload", "load_results", "make_step", "measure_memory_subprocess", "measure_target_pairs",
    "parse_mixer_spec", "power_law", "run_benchmark", "save_results", "scipy_round_trip", "setup_step", "slopes",
    "sweep_afno", "target_checks", "theoretical_flops", "time_subprocess", "tokens_for",
]  # fmt: skip
