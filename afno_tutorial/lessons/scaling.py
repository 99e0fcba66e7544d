"""Reading a scaling benchmark: from how many tokens one mixer beats another, and by how much.

Rows are those of :func:`afno_tutorial.bench.run_benchmark` (or read back with ``load_results``): one dict per
mixer, mode and grid with ``tokens``, ``status`` and the measured ``time_s`` / ``memory_bytes`` / ``memory_ratio``.
Only measured rows (``status == "ok"``) are compared; a grid where either mixer was not measured is left out.
"""

from __future__ import annotations

from typing import Any, Sequence

Rows = Sequence[dict[str, Any]]


def measured(rows: Rows, mixer: str, mode: str = "forward", quantity: str = "time_s") -> dict[int, float]:
    """``tokens -> value`` of ``quantity`` for the measured rows of ``mixer`` in ``mode``."""
    return {r["tokens"]: r[quantity] for r in rows
            if r["mixer"] == mixer and r["mode"] == mode and r["status"] == "ok" and r.get(quantity) is not None}


def ratios(rows: Rows, a: str, b: str, mode: str = "forward", quantity: str = "time_s") -> dict[int, float]:
    """``tokens -> b / a`` at every grid where both were measured (above 1: ``a`` is cheaper)."""
    ma, mb = measured(rows, a, mode, quantity), measured(rows, b, mode, quantity)
    return {n: mb[n] / ma[n] for n in sorted(set(ma) & set(mb))}


def crossover(rows: Rows, a: str, b: str, mode: str = "forward", quantity: str = "time_s") -> dict[str, Any]:
    """Where ``a`` starts to beat ``b`` on the measured grids.

    Returns ``{"from": tokens or None, "b_wins_up_to": tokens or None, "ratios": {tokens: b / a}}``: ``from`` is the
    smallest measured token count from which ``a`` is cheaper at every larger measured grid (None if it is not
    cheaper at the largest); ``b_wins_up_to`` the largest measured token count at which ``b`` is cheaper (None if
    it never is).
    """
    r = ratios(rows, a, b, mode, quantity)
    tokens = list(r)
    start = None
    for i, n in enumerate(tokens):
        if all(r[m] > 1 for m in tokens[i:]):
            start = n
            break
    b_wins = [n for n in tokens if r[n] < 1]
    return {"from": start, "b_wins_up_to": max(b_wins) if b_wins else None, "ratios": r}


def describe_crossover(rows: Rows, a: str, b: str, labels: tuple[str, str], mode: str = "forward",
                       quantity: str = "time_s") -> str:
    """One sentence saying where ``a`` beats ``b`` on these rows, with the ratio at the smallest and largest grid."""
    c = crossover(rows, a, b, mode, quantity)
    r = c["ratios"]
    if not r:
        return f"{labels[0]} and {labels[1]} were never measured at the same grid"
    what = "time" if quantity == "time_s" else "memory"
    first, last = min(r), max(r)
    ends = f"{labels[1]} / {labels[0]} {what}: {r[first]:.2g}x at {first:,} tokens, {r[last]:.3g}x at {last:,}"
    if c["from"] is None:
        return f"{labels[0]} does not beat {labels[1]} in {what} at the largest measured grid ({ends})"
    if c["b_wins_up_to"] is None:
        return f"{labels[0]} beats {labels[1]} in {what} at every measured grid ({ends})"
    return (f"{labels[1]} is faster up to {c['b_wins_up_to']:,} tokens, {labels[0]} from {c['from']:,} tokens on "
            f"({ends})") if what == "time" else (
            f"{labels[1]} needs less up to {c['b_wins_up_to']:,} tokens, {labels[0]} from {c['from']:,} tokens on "
            f"({ends})")
