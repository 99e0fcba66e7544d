"""Plots of the scaling benchmark: time and memory against tokens (log-log, fitted slopes), theoretical FLOPs."""

from __future__ import annotations

from typing import Any, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.transforms import ScaledTranslation

from ..bench.profile import KINDS
from ..measure import fit_slope
from .colours import series_colours

_QUANTITIES = {"time_s": ("time per call (s)", 1.0), "memory_bytes": ("peak memory (MiB)", 2.0**-20),
               "flops": ("theoretical GFLOP", 1e-9)}  # fmt: skip


def plot_scaling(
    results: Sequence[dict[str, Any]],
    quantities: Sequence[str] = ("time_s", "memory_bytes"),
    min_tokens_for_slope: int = 4096,
) -> Figure:
    """One log-log panel per quantity against tokens, one line per ``mixer [mode]``, fitted slope in the legend.

    Args:
        results: rows from :func:`afno_tutorial.bench.run_benchmark` (or ``load_results``).
        quantities: any of ``"time_s"``, ``"memory_bytes"``, ``"flops"``; panels with no data are left out.
        min_tokens_for_slope: the slope is fitted over grids with at least this many tokens (small grids are
            dominated by fixed overheads); all measured grids when fewer than two reach it.

    One colour per mixer; forward solid, forward+backward dashed. Skipped configurations are drawn as open
    markers at their estimate.
    """
    quantities = [q for q in quantities if any(r.get(q) is not None for r in results)]
    if not quantities:
        raise ValueError("results: no rows with measured time, memory or FLOPs to plot")
    height = 4.0 + 0.11 * len(results) // 2
    fig, axes = plt.subplots(1, len(quantities), figsize=(6.2 * len(quantities), height), squeeze=False)
    mixers = list(dict.fromkeys(r["mixer"] for r in results))
    modes = list(dict.fromkeys(r["mode"] for r in results))
    colours = series_colours(mixers)  # a registered mixer in its own colour, variants and baselines in others
    device = next((r["device"] for r in results if r.get("device")), "")
    for ax, quantity in zip(axes[0], quantities):
        name, scale = _QUANTITIES[quantity]
        for mixer in mixers:
            for mode in modes:
                rows = [r for r in results if r["mixer"] == mixer and r["mode"] == mode]
                done = [r for r in rows if r["status"] == "ok" and r.get(quantity) is not None]
                if not done:
                    continue
                style = "o-" if mode == "forward" else "s--"
                label = mixer if len(modes) == 1 else f"{mixer} [{mode}]"
                fit = [r for r in done if r["tokens"] >= min_tokens_for_slope]
                fit = fit if len(fit) >= 2 else done
                slope = fit_slope([r["tokens"] for r in fit], [r[quantity] for r in fit])
                text = f"{label}: slope {slope:.2f}" if slope == slope else label
                ax.loglog([r["tokens"] for r in done], [r[quantity] * scale for r in done], style,
                          color=colours[mixer], ms=4, label=text)  # fmt: skip
                estimate_key = {"time_s": "estimate_time_s", "memory_bytes": "estimate_memory_bytes"}.get(quantity)
                skipped = [r for r in rows if r["status"] == "skipped" and estimate_key and r.get(estimate_key)]
                if skipped:
                    ax.loglog([r["tokens"] for r in skipped], [r[estimate_key] * scale for r in skipped], "o",
                              mfc="none", color=colours[mixer], label=f"{label}: skipped, estimate")  # fmt: skip
        ax.set_xlabel("tokens (H x W)")
        ax.set_ylabel(name)
        ax.set_title(f"{name.split(' (')[0]} (slopes fitted from {min_tokens_for_slope} tokens)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        # Two legend columns fit under a panel only while the labels are short. The legend hangs a fixed distance
        # below the panel (clear of the tick labels and the axis label whatever the panel's height).
        longest = max((len(t) for t in ax.get_legend_handles_labels()[1]), default=0)
        below = ax.transAxes + ScaledTranslation(0, -0.6, fig.dpi_scale_trans)
        ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below,
                  ncol=2 if longest <= 42 else 1, frameon=False)
    fig.suptitle(f"Token mixers: cost against tokens on {device}" if device else "Token mixers: cost against tokens")
    fig.tight_layout()
    return fig


def plot_flop_curves(curves: dict[str, tuple[Sequence[int], Sequence[float]]],
                     device_rate: float | None = None) -> Figure:
    """Theoretical FLOPs against tokens (log-log) for each mixer: ``{label: (tokens, flops)}``.

    With ``device_rate`` (FLOP/s), a right axis reads the FLOPs as the seconds they would take at that rate.
    """
    if not curves:
        raise ValueError("curves: expected at least one {label: (tokens, flops)} entry")
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = series_colours(list(curves))
    for label, (tokens, flops) in curves.items():
        slope = fit_slope(tokens, flops)
        ax.loglog(tokens, [f / 1e9 for f in flops], "o-", color=colours[label], label=f"{label} (slope {slope:.2f})")
    ax.set_xlabel("tokens (H x W)")
    ax.set_ylabel("theoretical GFLOP per forward")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if device_rate:
        right = ax.secondary_yaxis("right", functions=(lambda g: g * 1e9 / device_rate,
                                                       lambda s: s * device_rate / 1e9))
        right.set_ylabel(f"seconds at {device_rate / 1e9:.3g} GFLOP/s")
    fig.tight_layout()
    return fig


def plot_sweep(results: Sequence[dict[str, Any]]) -> Figure:
    """Measured time and theoretical FLOPs of one AFNO setting swept over values (rows from ``sweep_afno``), both
    relative to the sweep's largest value on one axis, so that how much of the FLOP saving the time follows shows."""
    rows = [r for r in results if r.get("param") is not None]
    if not rows:
        raise ValueError("results: expected rows from afno_tutorial.bench.sweep_afno (with 'param' and 'value')")
    param = rows[0]["param"]
    values = [r["value"] for r in rows]
    times, flops = [r["time_s"] for r in rows], [r["flops"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(values, [t / max(times) for t in times], "o-", color="C0",
            label=f"measured time (1 = {max(times) * 1e3:.3g} ms)")
    ax.plot(values, [f / max(flops) for f in flops], "s--", color="C1",
            label=f"theoretical FLOPs (1 = {max(flops) / 1e9:.3g} GFLOP)")
    ax.set_xlabel(param)
    ax.set_ylabel("relative to the largest of the sweep")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"AFNO cost against {param} ({rows[0]['tokens']} tokens, C={rows[0]['dim']}, {rows[0]['device']})",
                 fontsize=9)  # fmt: skip
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_profile(results: Sequence[dict[str, Any]], title: str | None = None) -> Figure:
    """Stacked bars of the time per call by kind of work, one bar per profiled row (``run_benchmark`` or
    ``sweep_afno`` with ``profile=True``): which costs shrink with a setting and which stay."""
    rows = [r for r in results if r.get("profile")]
    if not rows:
        raise ValueError("results: no rows with a 'profile'; run the benchmark with profile=True (--profile)")
    labels = [f"{r['param']}={r['value']}" if r.get("param") else f"{r['mixer']} [{r['mode']}] {r['tokens']:,}"
              for r in rows]  # fmt: skip
    fig, ax = plt.subplots(figsize=(9.5, 1.6 + 0.45 * len(rows)))
    left = [0.0] * len(rows)
    cmap = plt.get_cmap("tab10")
    for i, kind in enumerate(KINDS):
        widths = [r["profile"]["kinds"][kind] * 1e3 for r in rows]
        ax.barh(labels, widths, left=left, color=cmap(i), label=kind)
        left = [a + b for a, b in zip(left, widths)]
    ax.invert_yaxis()  # first row on top
    ax.set_xlabel("time per call (ms), by kind of work (torch.profiler)")
    ax.set_title(title or f"Where the time goes ({rows[0]['device']}, C={rows[0]['dim']})", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
