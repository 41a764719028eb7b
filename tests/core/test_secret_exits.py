"""The redaction contract: every exit, run over one corpus of planted secrets, leaks none.

Exits covered here: the four ``analyze`` formats (the ``github`` one is published as
annotations on the run), findings and their evidence (what the audit store, capsules,
pull-request and issue bodies are built from), alert titles and bodies, LLM prompts,
capsule free text, and error messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hee_monitor.action.alerts.redact import Scrubber
from hee_monitor.analysis.llm import build_prompt
from hee_monitor.analysis.logreader import build_excerpt, iter_log_lines, read_file_chunks
from hee_monitor.core import redact as redact_module
from hee_monitor.core.models import Evidence, Finding, Severity
from hee_monitor.demo.planted import (
    PLANTED,
    PLANTED_ENVIRONMENT,
    planted_secrets,
    write_planted_log,
)
from hee_monitor.record.capsule.sealing import EncryptionKey, seal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def planted_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    for name, value in PLANTED_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    redact_module.forget_registered_secrets()
    yield dict(PLANTED_ENVIRONMENT)
    redact_module.forget_registered_secrets()


def _leaks(text: str) -> list[str]:
    return [secret for secret in planted_secrets() if secret in text]


@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "github"])
def test_no_analyze_format_prints_a_planted_secret(tmp_path: Path, fmt: str) -> None:
    log = write_planted_log(tmp_path)
    env = {**os.environ, **PLANTED_ENVIRONMENT, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hee_monitor",
            "analyze",
            "--all-findings",
            "--format",
            fmt,
            str(log),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stdout.strip(), "analyze printed nothing: the test would prove nothing"
    assert _leaks(proc.stdout + proc.stderr) == []


@pytest.mark.parametrize(("name", "line", "secret"), PLANTED, ids=[p[0] for p in PLANTED])
def test_findings_hold_no_planted_secret(name: str, line: str, secret: str) -> None:
    finding = Finding(
        pattern_id="GEN-FAILING-STEP",
        title=f"Step failed: {line}",
        category="unknown",
        severity=Severity.HIGH,
        owner=None,
        risk=5,
        transient=False,
        confidence=0.5,
        fix_strategy=None,
        fingerprint="f",
        evidence=(Evidence(3, 3, line),),
        details={"step": line, "lines": [line]},
    )
    assert secret not in json.dumps(finding.to_json())


def test_alert_titles_and_bodies_hold_no_planted_secret(planted_env: dict[str, str]) -> None:
    scrub = Scrubber()
    scrub.add_url("mailtos://ci:SmtpPw-Channel-77@mail.example.org?to=ops@example.org")
    body = "\n".join(line for _, line, _ in PLANTED) + "\n" + "\n".join(planted_env.values())
    out = scrub(body + "\nsmtp login SmtpPw-Channel-77 refused")
    assert _leaks(out) == []
    assert "SmtpPw-Channel-77" not in out


def test_llm_prompts_hold_no_planted_secret(tmp_path: Path, planted_env: dict[str, str]) -> None:
    log = write_planted_log(tmp_path)
    excerpt = build_excerpt(iter_log_lines(read_file_chunks(log)), str(log))
    prompt = build_prompt(excerpt)
    text = json.dumps(prompt.messages)
    assert "deploy failed" in text  # the prompt still carries the log
    assert _leaks(text) == []


def test_capsule_free_text_is_sealed(planted_env: dict[str, str]) -> None:
    key = EncryptionKey(EncryptionKey.generate())
    payload = {
        "pipeline": {"last_failure": {"reason": PLANTED[0][1]}},
        "notes": [line for _, line, _ in PLANTED] + list(planted_env.values()),
    }
    seal(payload, key)
    assert _leaks(json.dumps(payload)) == []


def test_error_messages_hold_no_planted_secret(
    capsys: pytest.CaptureFixture[str], planted_env: dict[str, str]
) -> None:
    from hee_monitor.cli import run

    secret = planted_env["DEPLOY_TOKEN"]
    missing = f"/nonexistent/{secret}/password=Hunter2!2024.log"
    assert run(["analyze", missing]) != 0
    err = capsys.readouterr().err
    assert "nonexistent" in err  # the message still says what is wrong
    assert secret not in err
    assert "Hunter2!2024" not in err
