from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hee_monitor.action.escalation.store import EscalationStore
from hee_monitor.cli import run
from hee_monitor.record.db import open_engine


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEE_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("HEE_DATABASE_URL", url)
    return url


def test_status_and_dry_run_sweep(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["escalation", "status"]) == 0
    assert "no failures tracked" in capsys.readouterr().out
    store = EscalationStore(open_engine(database))
    now = datetime.now(UTC)
    for _ in range(3):
        store.seen("octo/app", "fp1", pattern_id="PY-X", title="x broke",
                   latest={"run_key": "octo/app#1.1", "evidence": "E  boom"}, now=now)  # fmt: skip
    assert run(["escalation", "status"]) == 0
    assert "octo/app  fp1  3×  no issue  x broke" in capsys.readouterr().out
    assert run(["escalation", "sweep", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would open a new issue in octo/app: CI failure: x broke" in out
    assert "<!-- hee-fingerprint: fp1 -->" in out
    assert run(["escalation", "sweep", "--dry-run", "--format", "json"]) == 0
    (action,) = json.loads(capsys.readouterr().out)
    assert action["step"] == "open" and action["dry_run"]


def test_a_live_sweep_needs_escalation_enabled(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["escalation", "sweep"]) == 2
    assert "not enabled" in capsys.readouterr().err
