from __future__ import annotations

import json
from pathlib import Path

import pytest

from hee_monitor.cli import run
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.schema import transitions


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.delenv("HEE_SIGNING_KEY", raising=False)
    monkeypatch.setenv("HEE_REPOS", "octo/app")
    return str(tmp_path / "current.json"), f"sqlite:///{tmp_path}/audit.db"


def test_show_set_maintenance_and_resume(
    paths: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsule, db = paths
    assert run(["state", "show", "--state-capsule", capsule]) == 0
    assert capsys.readouterr().out.startswith("operational since")
    assert (
        run(
            [
                "state",
                "set-maintenance",
                "--state-capsule",
                capsule,
                "--database",
                db,
                "--reason",
                "runner upgrade",
            ]
        )
        == 0
    )
    assert "operational → maintenance (scheduled_update): runner upgrade" in capsys.readouterr().out
    assert run(["state", "show", "--state-capsule", capsule, "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == "maintenance" and shown["allowed_triggers"] == ["update_complete"]
    assert run(["state", "resume", "--state-capsule", capsule, "--database", db]) == 0
    assert (
        json.loads(Path(capsule).read_text())["monitoring_state"]["current_status"] == "operational"
    )
    assert AuditStore.open(db).count(transitions) == 2


def test_invalid_moves_are_errors_that_change_nothing(
    paths: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    capsule, db = paths
    assert run(["state", "resume", "--state-capsule", capsule, "--database", db]) == 1
    err = capsys.readouterr().err
    assert (
        "cannot 'update_complete' from 'operational'; allowed: failures_detected, scheduled_update"
        in err
    )
    assert not Path(capsule).exists()
    Path(capsule).write_text(
        json.dumps(
            {
                "repository": "octo/app",
                "version": 3,
                "monitoring_state": {"current_status": "failed"},
            }
        )
    )
    assert run(["state", "set-maintenance", "--state-capsule", capsule, "--database", db]) == 1
    assert "cannot enter maintenance from 'failed'" in capsys.readouterr().err
    assert json.loads(Path(capsule).read_text())["version"] == 3


def test_signed_capsule_when_a_signing_key_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hee_monitor.record.capsule.keys import Signer

    signer = Signer.generate()
    monkeypatch.setenv("HEE_SIGNING_KEY", signer.private_pem().decode())
    monkeypatch.setenv("HEE_REPOS", "octo/app")
    capsule = tmp_path / "current.json"
    db = f"sqlite:///{tmp_path}/audit.db"
    assert run(["state", "set-maintenance", "--state-capsule", str(capsule), "--database", db]) == 0
    envelope = json.loads(capsule.read_text())
    assert envelope["signed"]["monitoring_state"]["current_status"] == "maintenance"
    assert envelope["signed"]["version"] == 2 and envelope["signatures"]
    # tampering is refused on the next read
    envelope["signed"]["monitoring_state"]["current_status"] = "operational"
    capsule.write_text(json.dumps(envelope))
    assert run(["state", "show", "--state-capsule", str(capsule)]) != 0


def test_show_in_an_empty_directory_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HEE_SIGNING_KEY", raising=False)
    monkeypatch.delenv("HEE_DATABASE_URL", raising=False)
    monkeypatch.delenv("HEE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run(["state", "show"]) == 0
    assert capsys.readouterr().out.startswith("operational since")
    assert list(tmp_path.iterdir()) == []
