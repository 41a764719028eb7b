from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hee_monitor.core.errors import StoreError
from hee_monitor.core.models import (
    Alert,
    Diagnosis,
    FailedJob,
    FailedRun,
    Finding,
    HealthState,
    JobRecord,
    Owner,
    Severity,
)
from hee_monitor.decision.health import Transition
from hee_monitor.decision.interface import Action, Decision
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.db import open_engine
from hee_monitor.record.schema import processed_runs

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def _finding(pattern: str = "PY-TEST", *, category: str = "test", risk: int = 2) -> Finding:
    return Finding(
        pattern,
        pattern,
        category,
        Severity.HIGH,
        Owner.DEVELOPER,
        risk,
        False,
        0.9,
        None,
        f"fp-{pattern}",
        (),
    )


def _run(run_id: int, attempt: int = 1) -> FailedRun:
    job = FailedJob(run_id * 10, "test", "failure", completed_at=NOW - timedelta(seconds=90))
    return FailedRun(
        "octo/app",
        run_id,
        attempt,
        "CI",
        "abc123",
        "main",
        "push",
        "failure",
        (job,),
        updated_at=NOW - timedelta(seconds=60),
    )


DECISION = Decision(
    (Action.ALERT,),
    ("failures_detected",),
    HealthState.OPERATIONAL,
    HealthState.DEGRADED,
    ("1 failed job(s)",),
    ("failure_detected",),
    Severity.HIGH,
)


@pytest.fixture
def store(store_url: str) -> AuditStore:
    """The store's contract holds on SQLite and on PostgreSQL."""
    return AuditStore.open(store_url)


def test_processed_runs_are_remembered_across_reopen(store_url: str) -> None:
    url = store_url
    first = AuditStore.open(url)
    assert not first.seen("octo/app#1.1")
    first.mark("octo/app#1.1", now=NOW)
    first.mark("octo/app#1.1", now=NOW)  # idempotent
    again = AuditStore(open_engine(url))
    assert again.seen("octo/app#1.1")
    assert again.count(processed_runs) == 1


def test_poll_cursors_are_remembered_across_reopen(store_url: str) -> None:
    from hee_monitor.sources.interface import PollCursors

    url = store_url
    first = AuditStore.open(url)
    assert isinstance(first, PollCursors)
    assert first.get_etag("api octo/app") is None
    first.put_etag("api octo/app", 'W/"1"')
    first.put_etag("api octo/app", 'W/"2"')
    first.put_etag("api octo/lib", 'W/"9"')
    again = AuditStore.open(url)
    assert again.get_etag("api octo/app") == 'W/"2"'
    again.put_etag("api octo/lib", None)
    assert first.get_etag("api octo/lib") is None


def test_record_run_is_all_or_nothing_and_once(store: AuditStore) -> None:
    run = _run(7)
    diag = Diagnosis("test", 10, (_finding(),), analysis_seconds=0.25)
    move = Transition("failures_detected", HealthState.OPERATIONAL, HealthState.DEGRADED, NOW)
    assert store.record_run(run, [JobRecord(run.jobs[0], diag)], DECISION, [move], now=NOW)
    assert not store.record_run(run, [JobRecord(run.jobs[0], diag)], DECISION, [move], now=NOW)
    metrics = store.metrics()
    assert metrics.runs_processed == 1 and metrics.transitions == 1
    assert metrics.by_pattern == {"PY-TEST": 1}
    assert metrics.detection_latency_seconds["mean"] == 90.0
    assert metrics.analysis_seconds["mean"] == 0.25


def test_query_filters_by_repo_time_and_action(store: AuditStore) -> None:
    for i in range(3):
        run = _run(i)
        store.record_run(
            run,
            [JobRecord(run.jobs[0], Diagnosis("x", 1, ()))],
            DECISION,
            [],
            now=NOW + timedelta(hours=i),
        )
    assert len(store.query(repo="octo/app")) == 3
    assert store.query(repo="other/repo") == []
    assert [r["run_key"] for r in store.query(since=NOW + timedelta(hours=1))] == [
        "octo/app#2.1",
        "octo/app#1.1",
    ]
    assert len(store.query(until=NOW + timedelta(minutes=30))) == 1
    assert len(store.query(action="alert")) == 3 and store.query(action="rerun") == []


def test_metrics_cover_fixes_alerts_unexplained_and_risk(store: AuditStore) -> None:
    run = _run(1)
    store.record_run(run, [JobRecord(run.jobs[0], Diagnosis("a", 1, ()))], DECISION, [], now=NOW)
    run2 = _run(2)
    store.record_run(
        run2,
        [JobRecord(run2.jobs[0], Diagnosis("b", 1, (_finding("LINT", category="lint", risk=1),)))],
        DECISION,
        [],
        now=NOW,
    )
    store.record_fix(
        repo="octo/app",
        fingerprint="fp",
        strategy="ruff-fix",
        success=True,
        rollback=False,
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=30),
    )
    store.record_fix(
        repo="octo/app",
        fingerprint="fp",
        strategy="ruff-fix",
        success=False,
        rollback=True,
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=10),
    )
    store.record_alert(
        Alert("octo/app", Severity.HIGH, "t", "b", "fp"), "muted", now=NOW, reason="maintenance"
    )
    store.record_skip("octo/app", "log unavailable", key="octo/app#9.1", mark=True, now=NOW)
    assert store.seen("octo/app#9.1")
    m = store.metrics()
    assert m.unexplained_share == 0.5
    assert m.fix_success_rate == 0.5 and m.remediation_seconds["mean"] == 20.0
    assert m.by_category == {"lint": 1} and m.risk_distribution == {"1": 1}
    assert m.alerts == {"muted": 1} and m.runs_skipped == 1
    assert m.actions == {"alert": 2}
    assert store.failed_fix_attempts("fp", "ruff-fix") == 1


def test_history_for_the_policy(store: AuditStore) -> None:
    for i in range(3):
        run = _run(i)
        store.record_run(
            run,
            [JobRecord(run.jobs[0], Diagnosis("x", 1, (_finding(),)))],
            DECISION,
            [],
            now=NOW - timedelta(minutes=50 * i),
        )
    assert store.occurrences("fp-PY-TEST", since=NOW - timedelta(hours=1)) == 2
    store.record_rerun("octo/app", 5, "abc", ["fp-B", "fp-A"], now=NOW)
    assert store.reruns_requested("octo/app", 5) == 1
    [pending] = store.pending_reruns()
    assert pending.fingerprints == ("fp-A", "fp-B")
    store.resolve_rerun(pending.id, "passed", now=NOW)
    assert store.pending_reruns() == []
    store.label_flaky("octo/app", ["fp-A", "fp-A"], now=NOW)
    store.label_flaky("octo/app", ["fp-A"], now=NOW)
    assert store.is_flaky(["fp-A", "zzz"]) and not store.is_flaky(["zzz"])
    assert store.last_failure_at("octo/app") == NOW


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg2://user:s3cret@127.0.0.1:1/db", "sqlite:///{tmp}/file/s3cret/audit.db"],
)
def test_unusable_database_is_a_store_error_without_the_url(url: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreError) as info:
        AuditStore.open(url.format(tmp=tmp_path))
    assert "s3cret" not in str(info.value) and "s3cret" not in (info.value.hint or "")


def test_fix_engine_attempts_count_as_failed_tries_and_in_the_success_rate(
    store: AuditStore,
) -> None:
    from hee_monitor.action.fixes.records import finish_attempt, start_attempt

    for outcome in ("rolled-back", "crashed", "applied"):
        attempt = start_attempt(
            store.engine,
            fingerprint="fp-x",
            pattern_id="PY-RUFF",
            strategy="ruff-fix",
            repository="octo/app",
            run_id="1",
            started=NOW,
        )
        finish_attempt(store.engine, attempt, outcome, "")
    assert store.failed_fix_attempts("fp-x", "ruff-fix") == 2
    assert store.failed_fix_attempts("fp-x", "other") == 0
    metrics = store.metrics()
    assert metrics.fixes == 3 and metrics.fix_success_rate == round(1 / 3, 4)


def test_a_repository_skipped_every_cycle_is_one_row_an_hour(store: AuditStore) -> None:
    for minute in range(0, 120, 1):
        store.record_skip("octo/private", "403: no access", now=NOW + timedelta(minutes=minute))
    assert store.metrics().runs_skipped == 2


def test_remediation_time_runs_from_diagnosis_to_the_applied_fix(store: AuditStore) -> None:
    from hee_monitor.action.fixes.records import finish_attempt, start_attempt

    run = _run(1)
    store.record_run(
        run, [JobRecord(run.jobs[0], Diagnosis("x", 1, (_finding("RUFF"),)))], DECISION, [], now=NOW
    )
    attempt = start_attempt(
        store.engine,
        fingerprint="fp-RUFF",
        pattern_id="RUFF",
        strategy="ruff-fix",
        repository="octo/app",
        run_id="1",
        started=NOW + timedelta(minutes=4),
    )
    finish_attempt(store.engine, attempt, "applied", "")
    assert store.metrics().remediation_seconds["mean"] == 240.0
