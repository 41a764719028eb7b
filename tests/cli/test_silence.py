from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hee_monitor.cli import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    monkeypatch.setenv("HEE_DATABASE_URL", url)
    return url


def test_add_list_expire(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            [
                "silence",
                "add",
                "--repo",
                "acme/*",
                "--pattern",
                "npm-*",
                "--severity",
                "low",
                "--severity",
                "medium",
                "--expires",
                "2h",
                "-c",
                "registry outage",
                "--created-by",
                "ana",
            ]
        )
        == 0
    )
    silence_id = capsys.readouterr().out.strip()
    assert len(silence_id) == 12
    assert run(["silence", "list"]) == 0
    line = capsys.readouterr().out
    assert silence_id in line and "repo=acme/*" in line and "severity=low,medium" in line
    assert "by ana" in line and "registry outage" in line
    assert run(["silence", "expire", silence_id]) == 0
    assert "expired" in capsys.readouterr().out
    assert run(["silence", "list"]) == 0
    assert capsys.readouterr().out.strip() == "no active silences"
    assert run(["silence", "list", "--all", "--format", "json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["id"] == silence_id and entry["severities"] == ["low", "medium"]


def test_bad_input_is_a_usage_error(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["silence", "add", "--expires", "soon"]) == 2
    err = capsys.readouterr().err
    assert "--expires" in err and "hint:" in err
    assert run(["silence", "expire", "nope"]) == 2
    assert "no silence with id 'nope'" in capsys.readouterr().err


def test_runs_as_a_module(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HEE_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hee_monitor", "silence", "add", "--expires", "30m"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "hee_monitor", "silence", "list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() in listed.stdout
