"""Reading scaling results: crossovers and ratios between two mixers, on rows shaped like the benchmark's."""

from afno_tutorial.lessons.scaling import crossover, describe_crossover, measured, ratios


def _rows(mixer, times, status=None):
    status = status or ["ok"] * len(times)
    return [{"mixer": mixer, "mode": "forward", "tokens": n, "status": s, "time_s": t, "memory_bytes": 10 * n}
            for (n, t), s in zip(times.items(), status)]


def test_crossover_and_ratios():
    rows = _rows("afno", {256: 1.0, 1024: 1.0, 4096: 1.2, 16384: 2.0}) + \
        _rows("attention", {256: 0.1, 1024: 0.5, 4096: 2.4, 16384: 40.0})
    assert ratios(rows, "afno", "attention") == {256: 0.1, 1024: 0.5, 4096: 2.0, 16384: 20.0}
    c = crossover(rows, "afno", "attention")
    assert c["from"] == 4096 and c["b_wins_up_to"] == 1024
    text = describe_crossover(rows, "afno", "attention", ("AFNO", "attention"))
    assert "up to 1,024 tokens" in text and "from 4,096" in text and "20x at 16,384" in text
    # Memory equal at every grid: neither needs less.
    c = crossover(rows, "afno", "attention", quantity="memory_bytes")
    assert c["from"] is None and c["b_wins_up_to"] is None


def test_crossover_ignores_unmeasured_grids_and_reports_no_win():
    rows = _rows("afno", {256: 1.0, 1024: 2.0, 4096: 3.0}) + \
        _rows("attention", {256: 2.0, 1024: 1.0, 4096: None}, status=["ok", "ok", "skipped"])
    assert measured(rows, "attention") == {256: 2.0, 1024: 1.0}
    c = crossover(rows, "afno", "attention")
    assert c["from"] is None and c["b_wins_up_to"] == 1024
    assert "does not beat" in describe_crossover(rows, "afno", "attention", ("AFNO", "attention"))
    assert "never measured" in describe_crossover(rows, "afno", "gfn", ("AFNO", "GFN"))
