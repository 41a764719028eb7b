from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.cli import run
from hee_monitor.fixes.approvals import ApprovalStore
from hee_monitor.store.db import open_engine
from tests.fixes.conftest import make_finding


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
    assert run(["approvals", "list", "--database", url]) == 0
    assert "no approval requests with status pending" in capsys.readouterr().out
    assert run(["approvals", "approve", ids[1], "--by", "x", "--reason", "y",
                "--database", url]) == 1  # fmt: skip
    assert "already rejected" in capsys.readouterr().err
    assert run(["approvals", "approve", "APR-none", "--by", "x", "--reason", "y",
                "--database", url]) == 2  # fmt: skip
