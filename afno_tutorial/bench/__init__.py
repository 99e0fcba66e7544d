"""The scaling benchmark: every registered mixer, time and memory against the number of tokens.

``python -m afno_tutorial.bench --help``. ``harness`` runs and records configurations, ``paired`` times two of them
alternately, ``profile`` splits a call's time by kind of work.
"""

from .harness import (
    BASELINES,
    DEFAULT_GRIDS,
    DEFAULT_MIXERS,
    FLOORS,
    MODES,
    CopyFloor,
    FFTRoundTrip,
    MixerSpec,
    ReferenceAFNO2d,
    build_bench_mixer,
    fit_slope,
    format_checks,
    format_table,
    load_results,
    main,
    make_step,
    measure_memory_subprocess,
    measure_peak_memory,
    parse_mixer_spec,
    power_law,
    run_benchmark,
    save_results,
    scipy_round_trip,
    slopes,
    sweep_afno,
    target_checks,
    theoretical_flops,
    time_step,
    time_subprocess,
    tokens_for,
)

__all__ = [
    "BASELINES", "DEFAULT_GRIDS", "DEFAULT_MIXERS", "FLOORS", "MODES", "CopyFloor", "FFTRoundTrip", "MixerSpec",
    "ReferenceAFNO2d", "build_bench_mixer", "fit_slope", "format_checks", "format_table", "load_results", "main",
    "make_step", "measure_memory_subprocess", "measure_peak_memory", "parse_mixer_spec", "power_law",
    "run_benchmark", "save_results", "scipy_round_trip", "slopes", "sweep_afno", "target_checks",
    "theoretical_flops", "time_step", "time_subprocess", "tokens_for",
]
