from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.action.fixes.approvals import ApprovalStore
from hee_monitor.cli import run
from hee_monitor.record.db import open_engine
from tests.action.fixes.conftest import make_finding


def test_list_show_approve_and_reject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = ApprovalStore(open_engine(url))
    now = datetime(2026, 11, 22, 10, tzinfo=UTC)
    ids = [
        store.request(now=now, repository="octo/app", repo_path="/r", run_id="1",
                      finding=make_finding("bump-dependency", fingerprint=fp).to_json(),
                      plan={"strategy": "bump-dependency", "description": "raise x"}, risk=6,
                      reason="risk 6 is above the threshold 5").id
        for fp in ("a", "b")
    ]  # fmt: skip
    assert run(["approvals", "list", "--database", url]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in ids)
    assert run(["approvals", "show", ids[0], "--database", url]) == 0
    assert json.loads(capsys.readouterr().out)["reason"] == "risk 6 is above the threshold 5"
    assert run(["approvals", "approve", ids[0], "--by", "alice", "--reason", "ok",
                "--database", url]) == 0  # fmt: skip
    assert f"fix apply --approval {ids[0]}" in capsys.readouterr().out
    assert run(["approvals", "reject", ids[1], "--by", "bob", "--reason", "no",
                "--database", url]) == 0  # fmt: skip
    assert f"{ids[1]} rejected by bob" in capsys.readouterr().out
    assert run(["approvals", "list", "--database", url]) == 0
    assert "no approval requests with status pending" in capsys.readouterr().out
    assert run(["approvals", "approve", ids[1], "--by", "x", "--reason", "y",
                "--database", url]) == 1  # fmt: skip
    assert "already rejected" in capsys.readouterr().err
    assert run(["approvals", "approve", "APR-none", "--by", "x", "--reason", "y",
                "--database", url]) == 2  # fmt: skip


def test_escalate_routes_overdue_requests_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    monkeypatch.chdir(tmp_path)  # no hee-monitor.toml here: the default [alerts] settings
    monkeypatch.delenv("HEE_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = ApprovalStore(open_engine(url))
    old = datetime.now(UTC) - timedelta(hours=25)
    request = store.request(
        now=old, repository="octo/app", repo_path="/r", run_id="1",
        finding=make_finding("bump-dependency").to_json(),
        plan={"strategy": "bump-dependency", "description": "raise x"}, risk=6, reason="risky",
    )  # fmt: skip
    assert run(["approvals", "escalate", "--database", url, "--print"]) == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert printed["kind"] == "approval"
    assert request.id in printed["body"]
    assert store.get(request.id).escalated is not None
    # once only: a second run finds nothing to escalate
    assert run(["approvals", "escalate", "--database", url]) == 0
    assert "nothing to escalate" in capsys.readouterr().err


def test_escalate_through_the_alert_router(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEE_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = ApprovalStore(open_engine(url))
    request = store.request(
        now=datetime.now(UTC) - timedelta(hours=30), repository="octo/app", repo_path="/r",
        run_id="1", finding=make_finding("bump-dependency").to_json(),
        plan={"strategy": "bump-dependency", "description": "raise x"}, risk=6, reason="risky",
    )  # fmt: skip
    assert run(["approvals", "escalate", "--database", url]) == 0
    out = capsys.readouterr()
    title = f"Fix {request.id} (bump-dependency) has waited 30 h for approval"
    # the router took it: grouped or queued for the matrix's channels, not dropped
    assert f"escalated (grouped): {title}" in out.out or f"escalated (queued): {title}" in out.out
    assert store.get(request.id).escalated is not None
