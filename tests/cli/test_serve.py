from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import urllib3

from hee_monitor.cli import run
from hee_monitor.cli.serve import build_server
from hee_monitor.sources.github.webhook import signature

ROOT = Path(__file__).resolve().parents[2]


def test_serve_without_secret_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HEE_WEBHOOK_SECRET", raising=False)
    assert run(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "HEE_WEBHOOK_SECRET is not set" in err and "hint:" in err


def test_build_server_hands_runs_to_the_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEE_WEBHOOK_SECRET", "s3cret")
    seen: list[tuple[str, int, int]] = []
    server = build_server("127.0.0.1", 0, on_run=lambda r, i, a: seen.append((r, i, a)))
    body = json.dumps(
        {
            "action": "completed",
            "repository": {"full_name": "octo/app"},
            "workflow_run": {"id": 1, "run_attempt": 1, "conclusion": "failure"},
        }
    ).encode()
    with server:
        answer = urllib3.request(
            "POST",
            server.url,
            body=body,
            headers={
                "X-GitHub-Event": "workflow_run",
                "X-Hub-Signature-256": signature("s3cret", body),
            },
        )
        server.intake.drain()
    assert answer.status == 202 and seen == [("octo/app", 1, 1)]


def test_serve_command_prints_failed_runs_and_never_the_secret() -> None:
    secret = "webhook-secret-value-123"
    env = {**os.environ, "HEE_WEBHOOK_SECRET": secret, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hee_monitor", "-vv", "serve", "--port", "0", "--print-only"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        first = proc.stderr.readline()
        url = first.rsplit(" ", 1)[1].strip()
        body = json.dumps(
            {
                "action": "completed",
                "repository": {"full_name": "octo/app"},
                "workflow_run": {"id": 42, "run_attempt": 3, "conclusion": "timed_out"},
            }
        ).encode()
        bad = urllib3.request(
            "POST",
            url,
            body=body,
            headers={"X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": "sha256=00"},
        )
        good = urllib3.request(
            "POST",
            url,
            body=body,
            headers={
                "X-GitHub-Event": "workflow_run",
                "X-Hub-Signature-256": signature(secret, body),
            },
        )
        assert (bad.status, good.status) == (401, 202)
        line = proc.stdout.readline()
        assert json.loads(line) == {"repo": "octo/app", "run_id": 42, "run_attempt": 3}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert secret not in first + err


def test_serve_without_repositories_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HEE_WEBHOOK_SECRET", "s3cret")
    monkeypatch.delenv("HEE_REPOS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run(["serve", "--port", "0"]) == 2
    assert "--print-only" in capsys.readouterr().err


def test_serve_runs_the_whole_pipeline_for_each_delivery(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hee_monitor.cli.serve import _pipeline_server
    from hee_monitor.record.audit import AuditStore
    from hee_monitor.record.schema import decisions
    from tests.fakes.github import GitHubFake, JobSpec

    with GitHubFake() as fake:
        failed = fake.add_run(
            "octo/app", jobs=[JobSpec("build", log_text="src/a.c:1:1: error: expected ';'\n")]
        )
        monkeypatch.setenv("HEE_WEBHOOK_SECRET", "s3cret")
        monkeypatch.setenv("GITHUB_TOKEN", "t")
        monkeypatch.setenv("HEE_GITHUB_API_URL", fake.url)
        monkeypatch.delenv("HEE_SIGNING_KEY", raising=False)
        monkeypatch.chdir(tmp_path)
        db = f"sqlite:///{tmp_path}/audit.db"
        server = _pipeline_server(
            "127.0.0.1", 0, 1 << 20, None, ("octo/app",), db, str(tmp_path / "current.json")
        )
        body = json.dumps(
            {
                "action": "completed",
                "repository": {"full_name": "octo/app"},
                "workflow_run": {"id": failed.id, "run_attempt": 1, "conclusion": "failure"},
            }
        ).encode()
        headers = {
            "X-GitHub-Event": "workflow_run",
            "X-Hub-Signature-256": signature("s3cret", body),
        }
        with server:
            first = urllib3.request("POST", server.url, body=body, headers=headers)
            server.intake.drain()
            again = urllib3.request("POST", server.url, body=body, headers=headers)
            server.intake.drain()
    assert (first.status, again.status) == (202, 200)
    audit = AuditStore.open(db)
    assert audit.count(decisions) == 1
    assert json.loads((tmp_path / "current.json").read_text())["decision_history"]


def test_serve_stops_cleanly_on_sigterm() -> None:
    """Kubernetes, systemd and ``docker stop`` send SIGTERM: serve leaves its loop, lets the
    deliveries in progress finish and exits 0 (not killed by the signal, exit -15)."""
    env = {**os.environ, "HEE_WEBHOOK_SECRET": "a-secret", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hee_monitor", "serve", "--port", "0", "--print-only"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = proc.stderr.readline().rsplit(" ", 1)[1].strip()
        assert urllib3.request("GET", url + "/healthz").status == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in err
