"""The one module of measurements: warm-up and repeats on a fake clock, peak memory, cache release, fits."""

from __future__ import annotations

import math

import pytest
import torch

from afno_tutorial import measure


class FakeClock:
    """A clock that a step advances by its next duration (no real time is read)."""

    def __init__(self, durations) -> None:
        self.now, self.durations, self.calls = 0.0, iter(durations), 0

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.calls += 1
        self.now += next(self.durations)


def test_time_step_warms_up_for_calls_and_seconds_then_takes_the_median() -> None:
    clock = FakeClock([5.0] + [1.0, 3.0, 2.0])  # a slow first call, then the timed ones
    median, times = measure.time_step(clock.step, repeats=3, warmup=1, warmup_seconds=0.0, clock=clock)
    assert clock.calls == 4 and times == [1.0, 3.0, 2.0] and median == 2.0
    clock = FakeClock([0.25] * 4 + [0.5, 0.5])
    _, times = measure.time_step(clock.step, repeats=2, warmup=1, warmup_seconds=1.0, clock=clock)
    assert clock.calls == 6 and times == [0.5, 0.5]  # warm-up went on until a second had passed (4 calls)
    clock = FakeClock([1.0] * 100)
    _, times = measure.time_step(clock.step, repeats=50, warmup=1, warmup_seconds=30.0, max_seconds=4.0, clock=clock)
    assert clock.calls == 4 + 4 and len(times) == 4  # warm-up and repeats both held to max_seconds


def test_time_step_reads_the_default_warmup_at_call_time(monkeypatch) -> None:
    monkeypatch.setattr(measure, "WARMUP_SECONDS", 2.0)
    clock = FakeClock([1.0] * 10)
    measure.time_step(clock.step, repeats=1, clock=clock)
    assert clock.calls == 3  # two warm-up calls (two seconds), one timed


@pytest.mark.parametrize("kwargs", [{"repeats": 0}, {"repeats": 1.5}, {"warmup": -1}])
def test_time_step_refuses_bad_counts(kwargs) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"{name}: expected"):
        measure.time_step(lambda: None, **kwargs)


def test_peak_tensor_memory_counts_live_tensors() -> None:
    n = 2**16

    def sequential():
        a = torch.zeros(n)
        del a
        return torch.zeros(n)

    def together():
        a, b = torch.zeros(n), torch.zeros(2 * n)
        return a + 1, b

    assert measure.peak_memory_bytes(sequential, method="tensors") == 4 * n
    assert measure.peak_memory_bytes(together, method="tensors") == 4 * 4 * n
    with pytest.raises(ValueError, match="method: expected 'rss' or 'tensors'"):
        measure.peak_memory_bytes(sequential, method="heap")


def test_fits() -> None:
    tokens = [256, 1024, 4096]
    assert measure.fit_slope(tokens, [3 * t for t in tokens]) == pytest.approx(1.0)
    assert measure.fit_slope(tokens, [t**2 for t in tokens]) == pytest.approx(2.0)
    assert math.isnan(measure.fit_slope([4], [1.0]))
    assert math.isnan(measure.fit_slope([4, 4], [1.0, 2.0]))  # one x: no slope
    a, b = measure.fit_power_law([1, 2, 4, 8], [3.0, 12.0, 48.0, 192.0])
    assert a == pytest.approx(3.0) and b == pytest.approx(2.0)
    with pytest.raises(ValueError, match="x, y: expected at least two points"):
        measure.fit_power_law([1, 2], [1.0, 0.0])


def test_add_step_time_is_the_mean_over_every_session() -> None:
    history = {"seconds_per_step": float("nan"), "timed_steps": 0}
    measure.add_step_time(history, 0, 5.0)  # nothing timed: nothing changes
    assert history["timed_steps"] == 0 and math.isnan(history["seconds_per_step"])
    measure.add_step_time(history, 4, 2.0)  # a first session: 4 steps in 2 s
    measure.add_step_time(history, 1, 1.5)  # resumed: 1 step in 1.5 s
    assert history == {"seconds_per_step": pytest.approx(3.5 / 5), "timed_steps": 5}


class _CountsNothing:
    """A stand-in for a changed private TorchDispatchMode: usable as a context manager, but it sees no operator."""

    def __init__(self) -> None:
        self.peak = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Broken:
    def __init__(self) -> None:
        raise TypeError("__init__() got an unexpected keyword argument")  # a changed signature


@pytest.mark.parametrize("stand_in", [None, _CountsNothing, _Broken])
def test_tensor_tracking_falls_back_to_resident_memory(stand_in, monkeypatch) -> None:
    """Without PyTorch's private TorchDispatchMode, or with one that changed, method="tensors" measures the resident
    memory instead (with a warning), never a silent 0. (What the resident-memory measurement gives is checked in a
    fresh process by tests/test_bench.py.)"""
    n = 1000
    step = lambda: torch.ones(n)  # noqa: E731
    assert measure._tensor_tracking_works()  # this PyTorch's own: the exact count
    assert measure.peak_memory_bytes(step, method="tensors") == 4 * n
    measured = []
    monkeypatch.setattr(measure, "_peak_rss_bytes", lambda s: measured.append(s) or 12345)
    measure._tensor_tracking_works.cache_clear()
    monkeypatch.setattr(measure, "_LiveTensorBytes", stand_in or object)
    try:
        with pytest.warns(RuntimeWarning, match="method='tensors' needs PyTorch's private TorchDispatchMode"):
            assert measure.peak_memory_bytes(step, method="tensors") == 12345
        assert measured == [step]
    finally:
        measure._tensor_tracking_works.cache_clear()
