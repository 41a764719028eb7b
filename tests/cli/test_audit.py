from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hee_monitor.cli import run
from hee_monitor.cli.audit import parse_when
from hee_monitor.core.errors import UsageError
from hee_monitor.core.models import (
    Diagnosis,
    FailedJob,
    FailedRun,
    HealthState,
    JobRecord,
    Severity,
)
from hee_monitor.decision.interface import Action, Decision
from hee_monitor.record.audit import AuditStore

NOW = datetime.now(UTC)


def _seed(db: str) -> None:
    store = AuditStore.open(db)
    for i, (repo, action) in enumerate(
        [("octo/app", Action.ALERT), ("octo/app", Action.RERUN), ("octo/lib", Action.ALERT)]
    ):
        job = FailedJob(i, "test", "failure")
        run_ = FailedRun(repo, i, 1, "CI", "abc", "main", "push", "failure", (job,))
        d = Decision(
            (action,),
            (),
            HealthState.OPERATIONAL,
            HealthState.OPERATIONAL,
            (f"reason {i}",),
            ("r",),
            Severity.HIGH,
        )
        store.record_run(
            run_, [JobRecord(job, Diagnosis("x", 1, ()))], d, [], now=NOW - timedelta(hours=3 - i)
        )


def test_query_filters_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/a.db"
    _seed(db)
    assert run(["audit", "query", "--database", db, "--repo", "octo/app", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_key"] for r in rows] == ["octo/app#1.1", "octo/app#0.1"]
    assert run(["audit", "query", "--database", db, "--action", "rerun", "--format", "json"]) == 0
    assert [r["actions"] for r in json.loads(capsys.readouterr().out)] == [["rerun"]]
    assert run(["audit", "query", "--database", db, "--since", "150m", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert run(["audit", "query", "--database", db]) == 0
    out = capsys.readouterr().out
    assert "octo/lib#2.1" in out and "3 decision(s)" in out


def test_parse_when() -> None:
    assert parse_when("2h", NOW) == NOW - timedelta(hours=2)
    assert parse_when("2026-11-22", NOW) == datetime(2026, 11, 22, tzinfo=UTC)
    with pytest.raises(UsageError, match="cannot read 'yesterday'"):
        parse_when("yesterday", NOW)


def test_transitions_lists_the_monitors_and_manual_moves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hee_monitor.decision.health import Transition

    db = f"sqlite:///{tmp_path}/a.db"
    store = AuditStore.open(db)
    store.record_transition(
        "octo/app",
        Transition(
            "failures_detected", HealthState.OPERATIONAL, HealthState.DEGRADED, NOW, "1 failed job"
        ),
    )
    store.record_transition(
        "octo/lib",
        Transition(
            "scheduled_update",
            HealthState.OPERATIONAL,
            HealthState.MAINTENANCE,
            NOW + timedelta(minutes=1),
            "runner upgrade",
        ),
    )
    assert run(["audit", "transitions", "--database", db, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["repo"], r["trigger"], r["to_state"]) for r in rows] == [
        ("octo/lib", "scheduled_update", "maintenance"),
        ("octo/app", "failures_detected", "degraded"),
    ]
    assert run(["audit", "transitions", "--database", db, "--repo", "octo/app"]) == 0
    out = capsys.readouterr().out
    assert "operational→degraded" in out and "1 transition(s)" in out and "octo/lib" not in out
