from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.record.reports.model import MAX_BUCKETS, build_model, build_series
from tests.record.reports.conftest import NOW, payload


def test_capsule_only_model_draws_series_from_the_decision_history() -> None:
    info = {"PY-RUFF-LINT": ("Ruff lint", "lint"), "RUST-COMPILE-ERROR": ("rustc", "compile")}
    model = build_model(payload(), verified=False, verification="none", now=NOW,
                        pattern_info=info)  # fmt: skip
    assert model.status == "degraded"
    assert model.series_source == "capsule decision history"
    assert model.failures_by_pattern.totals() == {
        "PY-RUFF-LINT": 2, "PY-PYTEST-FAILED": 1, "RUST-COMPILE-ERROR": 1, "unexplained": 1,
    }  # fmt: skip
    assert model.failures_by_category.totals()["lint"] == 2
    assert model.failures_by_category.unit == "day"
    assert [(c.from_state, c.to_state) for c in model.state_changes] == [
        ("operational", "degraded"), ("degraded", "failed"), ("failed", "degraded"),
        ("degraded", "operational"),
    ]  # fmt: skip
    assert (model.fixes_kept, model.rollbacks) == (1, 1)
    assert model.approvals is None and model.alerts is None
    assert any("--database" in n for n in model.notes)
    assert model.incidents[0].severity == "critical"


def test_coverage_gaps_need_a_target() -> None:
    model = build_model(payload(), verified=True, verification="k", now=NOW,
                        coverage_targets={"line": 90, "branch": 80})  # fmt: skip
    gaps = {r.metric: r.gap for r in model.coverage}
    assert gaps["line"] is None  # 91.2 meets 90
    assert gaps["branch"] == 6.0
    assert gaps["function"] is None  # no target, no gap


def test_hourly_buckets_for_a_short_span_and_empty_buckets_kept() -> None:
    t0 = datetime(2026, 1, 1, 10, 15, tzinfo=UTC)
    series, cut = build_series([(t0, "a"), (t0 + timedelta(hours=3), "b")])
    assert series.unit == "hour" and not cut
    assert series.buckets == ("2026-01-01 10:00", "2026-01-01 11:00", "2026-01-01 12:00",
                              "2026-01-01 13:00")  # fmt: skip
    assert dict(series.rows) == {"a": (1, 0, 0, 0), "b": (0, 0, 0, 1)}


@given(
    st.lists(
        st.tuples(
            st.datetimes(
                min_value=datetime(2026, 1, 1),
                max_value=datetime(2026, 12, 31),
                timezones=st.just(UTC),
            ),
            st.sampled_from(["lint", "test", "compile"]),
        ),
        max_size=40,
    )
)
def test_series_count_every_event_in_the_window(events: list[tuple[datetime, str]]) -> None:
    series, cut = build_series(events)
    assert len(series.buckets) <= MAX_BUCKETS
    if not cut:
        assert series.total == len(events)
    else:
        assert series.total < len(events) or len(series.buckets) == MAX_BUCKETS
    for _, values in series.rows:
        assert len(values) == len(series.buckets)
