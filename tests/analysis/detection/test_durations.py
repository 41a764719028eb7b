from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.analysis.detection.durations import DurationStore, percentile, slow_verdict
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.record.db import open_engine

SETTINGS = DetectionSettings()
# ten minutes give or take half a minute: a job's normal spread
HISTORY = [600.0 + delta for delta in (-30, -20, -10, -5, 0, 0, 5, 10, 20, 30)]


def test_a_job_three_times_slower_than_its_history_is_flagged() -> None:
    verdict = slow_verdict(3 * 600.0, HISTORY, SETTINGS)
    assert verdict is not None
    assert verdict.samples == 10
    assert 2.7 < verdict.ratio < 3.1
    assert verdict.threshold_seconds > max(HISTORY)
    assert "p95 of its last 10 successful runs" in verdict.describe()


def test_a_job_within_its_normal_spread_is_not() -> None:
    for seconds in (570.0, 600.0, 630.0, 700.0):
        assert slow_verdict(seconds, HISTORY, SETTINGS) is None


def test_short_jobs_need_the_absolute_margin_too() -> None:
    quick = [20.0, 21.0, 22.0, 20.0, 19.0]
    # three times a 20 s job is 60 s: jitter, not a hang
    assert slow_verdict(60.0, quick, SETTINGS) is None
    assert slow_verdict(200.0, quick, SETTINGS) is not None


def test_no_opinion_without_enough_history() -> None:
    assert slow_verdict(10_000.0, HISTORY[:4], SETTINGS) is None
    assert slow_verdict(None, HISTORY, SETTINGS) is None


def test_percentile_matches_linear_interpolation() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
    assert percentile(list(range(101)), 95) == 95


@given(
    st.lists(st.floats(min_value=1, max_value=1e5), min_size=5, max_size=40),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_nothing_within_the_history_is_ever_slow(history: list[float], pick: float) -> None:
    seconds = sorted(history)[int(pick * (len(history) - 1))]
    assert slow_verdict(seconds, history, SETTINGS) is None


def test_the_store_keeps_successful_durations_newest_first(tmp_path: Path) -> None:
    store = DurationStore(open_engine(f"sqlite:///{tmp_path}/d.db"))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(40):
        assert store.record(
            "o/a", "CI", "build", i, 100.0 + i, completed_at=start + timedelta(hours=i)
        )
    assert not store.record("o/a", "CI", "build", 3, 1.0, completed_at=start)  # once per job
    store.record("o/a", "CI", "build", 99, 5000.0, completed_at=start, conclusion="failure")
    store.record("o/a", "CI", "test", 100, 7.0, completed_at=start)
    history = store.history("o/a", "CI", "build", limit=30)
    assert len(history) == 30
    assert history[0] == 139.0 and history[-1] == 110.0
    assert 5000.0 not in history


def test_a_duration_the_history_already_holds_is_not_slow_even_above_the_percentile() -> None:
    # found by hypothesis: the interpolated 95th percentile (172.8) sat below the history's
    # own maximum (173.0), which was then reported as slower than the history
    history = [1.0] * 7 + [173.0]
    assert slow_verdict(173.0, history, SETTINGS) is None
    assert slow_verdict(400.0, history, SETTINGS) is not None
