"""The brief's capsule scripts, run the way CI runs them: as separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hee_monitor.record.capsule import Signer

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"


@pytest.fixture
def ci_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEE_", "STATE_CAPSULE"))}
    env.update(
        HEE_SIGNING_KEY=Signer.generate().private_pem().decode(),
        HEE_STATE_DIR=str(tmp_path / "state"),
        GITHUB_REPOSITORY="octo/app",
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


def script(
    name: str, *args: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_generate_update_load_validate_round(ci_env: dict[str, str], tmp_path: Path) -> None:
    made = script("generate_state_capsule.py", "--output", "current.json", env=ci_env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    ci_env["STATE_CAPSULE"] = str(tmp_path / "current.json")
    updated = script(
        "update_state_capsule.py",
        "--output",
        "next.json",
        "--set-status",
        "degraded",
        "--state-dir",
        str(tmp_path),
        env=ci_env,
        cwd=tmp_path,
    )
    assert updated.returncode == 0, updated.stderr
    assert "version 2" in updated.stdout

    # the next job gets the capsule inline (e.g. from a secret or an output)
    ci_env["STATE_CAPSULE"] = (tmp_path / "next.json").read_text()
    ci_env["HEE_STATE_DIR"] = str(tmp_path)
    loaded = script("load_state_capsule.py", env=ci_env, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["monitoring_state"]["current_status"] == "degraded"

    # replaying the first artifact is refused
    ci_env["STATE_CAPSULE"] = str(tmp_path / "current.json")
    replay = script("load_state_capsule.py", env=ci_env, cwd=tmp_path)
    assert replay.returncode == 1
    assert "older than the trusted version 2" in replay.stderr

    valid = script(
        "validate_state_capsule.py", "--input", "next.json", "--hee-rules", env=ci_env, cwd=tmp_path
    )
    assert valid.returncode == 0, valid.stdout + valid.stderr


def test_validate_exit_codes(ci_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"version": 0}), encoding="utf-8")
    invalid = script("validate_state_capsule.py", "--input", "bad.json", env=ci_env, cwd=tmp_path)
    assert invalid.returncode == 1
    assert "/version: minimum 1 not satisfied [minimum]" in invalid.stdout
    assert "'monitoring_state' is a required property" in invalid.stdout
    usage = script("validate_state_capsule.py", "--bogus", env=ci_env, cwd=tmp_path)
    assert usage.returncode == 2
