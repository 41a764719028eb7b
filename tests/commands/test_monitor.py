from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hee_monitor.cli import run
from hee_monitor.commands.monitor import summary_markdown
from hee_monitor.models import Diagnosis, Finding, HealthState, Owner, Severity
from hee_monitor.monitor.cycle import CycleReport, RunOutcome
from hee_monitor.policy.interface import Action, Decision

SWIFT = "Compiling\nsrc/App.swift:12:5: error: cannot find 'x' in scope\n"
JUNIT = """<?xml version="1.0"?>
<testsuite name="t" tests="1" failures="1">
  <testcase classname="test_app" name="test_add">
    <failure message="assert 1 == 2">x</failure>
  </testcase>
</testsuite>
"""


def test_pre_commit_fails_the_hook_on_a_critical_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "build.log"
    log.write_text(SWIFT)
    assert run(["monitor", "--mode", "pre-commit", str(log)]) == 1
    out = capsys.readouterr().out
    assert f"{log}:2: [critical] APPLE-SWIFT-ERROR" in out


def test_pre_commit_passes_without_critical_findings_and_reads_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    clean = tmp_path / "ok.log"
    clean.write_text("all good\n")
    assert (
        run(
            [
                "monitor",
                "--mode",
                "pre-commit",
                str(clean),
                "--junit",
                str(report),
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["critical"] == 0
    assert data["files"][1]["findings"][0]["title"]


def test_pre_commit_without_files_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["monitor", "--mode", "pre-commit"]) == 2
    assert "no log files" in capsys.readouterr().err


def test_hee_mode_without_repositories_says_how_to_name_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEE_REPOS", raising=False)
    code = run(
        [
            "monitor",
            "--database",
            f"sqlite:///{tmp_path}/a.db",
            "--state-capsule",
            str(tmp_path / "c.json"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "no repositories to watch" in err and "--repo owner/name" in err


def test_summary_markdown_lists_runs_and_fix_required() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    f = Finding(
        "RUFF",
        "ruff | lint",
        "lint",
        Severity.LOW,
        Owner.DEVELOPER,
        1,
        False,
        0.9,
        "ruff-fix",
        "fp",
        (),
    )
    d = Decision(
        (Action.ALERT, Action.AUTO_FIX),
        ("failures_detected",),
        HealthState.OPERATIONAL,
        HealthState.DEGRADED,
        ("x",),
        ("auto_fix",),
        Severity.LOW,
    )
    outcome = RunOutcome(
        "octo/app#1.1",
        "octo/app",
        d,
        (),
        (Diagnosis("l", 1, (f,)),),
        url="https://github.example/run/1",
    )
    report = CycleReport(now, now, HealthState.OPERATIONAL, HealthState.DEGRADED, (outcome,))
    md = summary_markdown(report)
    assert "Pipeline state: **degraded** (was operational)" in md
    assert (
        "| [octo/app#1.1](https://github.example/run/1) | ruff \\| lint | low | "
        "alert, auto_fix | degraded |" in md
    )
    assert "fix_required: `true`" in md


def test_pre_commit_hook_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hee_monitor.commands.monitor import pre_commit_hook

    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    monkeypatch.setattr("sys.argv", ["hee-ci-monitor-hook", str(report)])
    with pytest.raises(SystemExit) as info:
        pre_commit_hook()
    assert info.value.code == 0
    assert "1 finding(s), 0 critical in 1 file(s)" in capsys.readouterr().out
