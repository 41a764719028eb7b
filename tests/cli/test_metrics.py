from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hee_monitor.cli import run
from hee_monitor.core.models import (
    Diagnosis,
    FailedJob,
    FailedRun,
    Finding,
    HealthState,
    JobRecord,
    Owner,
    Severity,
)
from hee_monitor.decision.interface import Action, Decision
from hee_monitor.record.audit import AuditStore

NOW = datetime.now(UTC)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/m.db"
    store = AuditStore.open(url)
    f = Finding(
        "PY-TEST", "t", "test", Severity.HIGH, Owner.DEVELOPER, 2, False, 0.9, None, "fp", ()
    )
    for i, found in enumerate([(f,), ()]):
        job = FailedJob(i, "test", "failure", completed_at=NOW - timedelta(seconds=10))
        r = FailedRun("octo/app", i, 1, "CI", "abc", "main", "push", "failure", (job,))
        d = Decision((Action.ALERT,), (), HealthState.OPERATIONAL, HealthState.OPERATIONAL, (), ())
        store.record_run(
            r, [JobRecord(job, Diagnosis("x", 1, found, analysis_seconds=0.5))], d, [], now=NOW
        )
    return url


def test_metrics_text_json_prometheus(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["metrics", "--database", db]) == 0
    out = capsys.readouterr().out
    assert "runs processed       2" in out and "unexplained 50.0%" in out
    assert run(["metrics", "--database", db, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["by_category"] == {"test": 1} and data["analysis_seconds"]["mean"] == 0.5
    assert run(["metrics", "--database", db, "--format", "prometheus"]) == 0
    prom = capsys.readouterr().out
    assert "hee_runs_processed 2.0" in prom
    assert 'hee_findings_by_pattern{pattern_id="PY-TEST"} 1.0' in prom
    assert "hee_unexplained_ratio 0.5" in prom


def test_runs_waiting_for_their_log_are_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hee_monitor.service.pending import PendingRuns

    url = f"sqlite:///{tmp_path}/w.db"
    store = AuditStore.open(url)
    PendingRuns(store.engine).hold(
        "octo/app#7.1", "octo/app", 7, 1, "build: log host answered 503", now=NOW
    )
    assert run(["metrics", "--database", url]) == 0
    assert "waiting for log      1 run(s)" in capsys.readouterr().out
    assert run(["metrics", "--database", url, "--format", "prometheus"]) == 0
    assert "hee_runs_waiting_for_log 1.0" in capsys.readouterr().out
    monkeypatch.setenv("HEE_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert run(["state", "show"]) == 0
    assert "waiting for log: octo/app#7.1 (build: log host answered 503)" in (
        capsys.readouterr().out
    )
