"""scripts/ci_monitor.py end to end: real PyGithub against the loopback GitHub fake, the
real analyzer, policy, audit store, capsule file and alert router, in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.github import GitHubFake, JobSpec

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ci_monitor.py"
TOKEN = "ghp_e2e_token_0123456789abcdef"

PYTEST_LOG = (
    "============================= FAILURES =============================\n"
    "___ test_add ___\n    def test_add():\n>       assert 1 + 1 == 3\nE       assert 2 == 3\n"
    "tests/test_app.py:3: AssertionError\n"
    "=========================== short test summary info ============================\n"
    "FAILED tests/test_app.py::test_add - assert 2 == 3\n1 failed in 0.03s\n"
)
NETWORK_LOG = (
    "2026-01-01T00:00:01.0000000Z Run go build\n"
    "2026-01-01T00:00:02.0000000Z dial tcp 140.82.112.3:443: i/o timeout\n"
    "2026-01-01T00:00:03.0000000Z Error: Process completed with exit code 1.\n"
)


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake() as server:
        server.require_token(TOKEN)
        yield server


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEE_", "GITHUB_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        GITHUB_TOKEN=TOKEN,
        GITHUB_OUTPUT=str(tmp_path / "output.txt"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
    )
    return env


def _args(fake: GitHubFake, tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(SCRIPT),
        "--api-url",
        fake.url,
        "--repo",
        "octo/app",
        "--state-capsule",
        str(tmp_path / "current.json"),
        "--database",
        f"sqlite:///{tmp_path}/audit.db",
        *extra,
    ]


def _count(tmp_path: Path, table: str) -> int:
    with sqlite3.connect(tmp_path / "audit.db") as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_hee_mode_processes_each_failed_run_exactly_once(fake: GitHubFake, tmp_path: Path) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("tests", log_text=PYTEST_LOG)])
    transient = fake.add_run("octo/app", jobs=[JobSpec("build", log_text=NETWORK_LOG)])
    env = _env(tmp_path)
    first = subprocess.run(
        _args(fake, tmp_path, "--mode", "hee", "--alert-level", "high"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stderr
    assert "2 new failed run(s); state degraded" in first.stdout
    capsule = json.loads((tmp_path / "current.json").read_text())
    assert capsule["monitoring_state"]["current_status"] == "degraded"
    assert capsule["version"] >= 2 and len(capsule["decision_history"]) == 2
    assert {i["pattern_id"] for i in capsule["open_incidents"]} == {"PY-PYTEST-FAILURES-SECTION"}
    assert _count(tmp_path, "audit_processed_runs") == 2
    assert _count(tmp_path, "audit_decisions") == 2
    assert _count(tmp_path, "audit_transitions") == 1
    # the all-transient run was re-run once through the API
    assert [(r.run_id, r.conclusion) for r in fake.reruns] == [(transient.id, "success")]
    output = (tmp_path / "output.txt").read_text()
    assert "fix_required=false" in output and "health_state=degraded" in output
    summary = (tmp_path / "summary.md").read_text()
    assert "Pipeline state: **degraded** (was operational)" in summary
    assert "pytest test failure" in summary

    second = subprocess.run(
        _args(fake, tmp_path, "--mode", "hee"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert _count(tmp_path, "audit_processed_runs") == 2
    findings = _count(tmp_path, "audit_findings")
    assert findings >= 2
    # the re-run passed: its failure is labelled flaky
    assert _count(tmp_path, "audit_flaky_fingerprints") == 1
    assert "0 new failed run(s)" in second.stdout


def test_run_id_shows_one_run_in_detail(fake: GitHubFake, tmp_path: Path) -> None:
    run = fake.add_run("octo/app", jobs=[JobSpec("tests", log_text=PYTEST_LOG)])
    proc = subprocess.run(
        _args(fake, tmp_path, "--run-id", str(run.id), "--hee-context", "--detailed"),
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[high] PY-PYTEST-FAILURES-SECTION" in proc.stdout
    assert "assert 2 == 3" in proc.stdout  # evidence shown with --detailed
    assert "decision: alert; triggers: failures_detected" in proc.stdout
    assert not (tmp_path / "current.json").exists()  # a look, not a change


def test_wait_for_commit_reports_and_fails_on_a_failed_workflow(
    fake: GitHubFake, tmp_path: Path
) -> None:
    run = fake.add_run("octo/app", jobs=[JobSpec("tests", log_text=PYTEST_LOG)])
    proc = subprocess.run(
        _args(fake, tmp_path, "--wait-for-commit", run.head_sha, "--timeout", "5"),
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "CI: failure" in proc.stdout and "1 new failed run(s)" in proc.stdout


def test_continuous_mode_stops_cleanly_on_sigterm(fake: GitHubFake, tmp_path: Path) -> None:
    fake.add_run("octo/app", jobs=[JobSpec("tests", log_text=PYTEST_LOG)])
    env = _env(tmp_path) | {
        "HEE_MONITOR__INTERVAL_OPERATIONAL": "0.2",
        "HEE_MONITOR__INTERVAL_DEGRADED": "0.2",
    }
    proc = subprocess.Popen(
        _args(fake, tmp_path, "--mode", "continuous"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # blocks until the first cycle reports the run
            if "new failed run(s)" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped after" in err
    capsule = json.loads((tmp_path / "current.json").read_text())
    assert capsule["monitoring_state"]["current_status"] == "degraded"


def test_pre_commit_mode_through_the_script(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("src/App.swift:12:5: error: cannot find 'x' in scope\n")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--mode", "pre-commit", str(log)],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "APPLE-SWIFT-ERROR" in proc.stdout


def test_continuous_mode_wakes_on_a_webhook_delivery(fake: GitHubFake, tmp_path: Path) -> None:
    import threading
    import uuid

    import urllib3

    from hee_monitor.sources.github.webhook import signature

    secret = "webhook-secret-for-tests"
    fake.add_run("octo/app", jobs=[JobSpec("tests", log_text=PYTEST_LOG)])
    env = _env(tmp_path) | {
        "HEE_WEBHOOK_SECRET": secret,
        "HEE_MONITOR__INTERVAL_OPERATIONAL": "600",
        "HEE_MONITOR__INTERVAL_DEGRADED": "600",
    }
    proc = subprocess.Popen(
        _args(fake, tmp_path, "--mode", "continuous", "--webhook-port", "0"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(90, proc.kill)  # a hung read fails the test, never the suite
    watchdog.start()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = ""
        for line in proc.stderr:
            if "listening for GitHub webhooks on" in line:
                url = line.rsplit(" ", 1)[1].strip()
                break
        for line in proc.stdout:
            if "1 new failed run(s)" in line:
                break
        second = fake.add_run("octo/app", jobs=[JobSpec("tests", log_text=PYTEST_LOG)])
        data = json.loads(
            (ROOT / "tests/sources/data/webhook.workflow_run.completed.json").read_text()
        )
        data["repository"]["full_name"] = "octo/app"
        data["workflow_run"].update(id=second.id, run_attempt=1, conclusion="failure")
        body = json.dumps(data).encode()
        response = urllib3.PoolManager().request(
            "POST",
            url + "/",
            body=body,
            headers={
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": signature(secret, body),
                "Content-Type": "application/json",
            },
        )
        assert response.status == 202
        woke = False
        for line in proc.stdout:  # well before the 600 s poll interval
            if f"octo/app#{second.id}.1" in line:
                woke = True
                break
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert woke and proc.returncode == 0
