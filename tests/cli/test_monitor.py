from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hee_monitor.cli import run
from hee_monitor.cli.monitor import summary_markdown
from hee_monitor.core.models import Diagnosis, Finding, HealthState, Owner, Severity
from hee_monitor.decision.interface import Action, Decision
from hee_monitor.service.cycle import CycleReport, RunOutcome

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


def test_pre_commit_reads_compressed_logs_and_refuses_damaged_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip

    log = tmp_path / "build.log.gz"
    log.write_bytes(gzip.compress(SWIFT.encode()))
    assert run(["monitor", "--mode", "pre-commit", str(log)]) == 1
    assert f"{log}:2: [critical] APPLE-SWIFT-ERROR" in capsys.readouterr().out
    broken = tmp_path / "logs.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    assert run(["monitor", "--mode", "pre-commit", str(broken)]) == 2
    assert "damaged zip archive" in capsys.readouterr().err
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(gzip.compress(SWIFT.encode() * 20)[:60])  # found only while reading
    assert run(["monitor", "--mode", "pre-commit", str(cut)]) == 2
    assert "damaged gzip file" in capsys.readouterr().err


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
    from hee_monitor.cli.hooks import ci_monitoring_main as pre_commit_hook

    report = tmp_path / "report.xml"
    report.write_text(JUNIT)
    monkeypatch.setattr("sys.argv", ["hee-ci-monitor-hook", str(report)])
    with pytest.raises(SystemExit) as info:
        pre_commit_hook()
    assert info.value.code == 0
    assert "1 finding(s), 0 critical in 1 file(s)" in capsys.readouterr().out


def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, token: str, unset: str) -> None:
    """Run in tmp_path with no configuration, model or GitHub Actions variable from outside."""
    for name in ("HEE_LLM", "OLLAMA_HOST", "HEE_CONFIG", "HEE_REPOS", unset):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_TOKEN", token)


def test_hee_cycle_asks_the_local_model_about_an_unexplained_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from tests.fakes.github import GitHubFake, JobSpec
    from tests.fakes.ollama import Answer, FakeOllama

    answer = {
        "category": "test",
        "severity": "medium",
        "owner": "DEVELOPER",
        "root_cause": "The widget count check failed: three widgets instead of four.",
        "evidence_lines": [3],
        "suggested_fix": "Register the fourth widget.",
        "confidence": 0.9,
    }
    _isolate(monkeypatch, tmp_path, token="ghp_llm_cycle_0123456789", unset="GITHUB_OUTPUT")
    with GitHubFake() as gh, FakeOllama() as ollama:
        ollama.script(Answer(answer))
        Path("hee-monitor.toml").write_text(f'[llm]\nhost = "{ollama.url}"\n')
        gh.add_run(
            "octo/app",
            jobs=[JobSpec("build", log_text="step one\nquux reactor down\nwidgets 3 != 4\n")],
        )
        code = run(
            [
                "monitor",
                "--api-url",
                gh.url,
                "--repo",
                "octo/app",
                "--database",
                f"sqlite:///{tmp_path}/a.db",
                "--state-capsule",
                str(tmp_path / "c.json"),
                "--format",
                "json",
            ]
        )
        assert len(ollama.chat_requests) == 1
    assert code == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    sources = {f["source"] for r in report["runs"] for d in r["diagnoses"] for f in d["failures"]}
    # the model explains the log; the job's metadata (a failed job) may add its own finding
    assert "llm:llama3.2" in sources
    assert sources <= {"llm:llama3.2", "metadata"}
    # the answer is cached in the audit store, so the same log never asks twice
    with sqlite3.connect(tmp_path / "a.db") as db:
        assert db.execute("SELECT count(*) FROM llm_answers").fetchone()[0] == 1


def test_a_repository_alerts_on_its_own_channels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.github import GitHubFake, JobSpec
    from tests.fakes.webhook import FakeWebhook

    _isolate(monkeypatch, tmp_path, token="ghp_channels_0123456789", unset="GITHUB_OUTPUT")
    with GitHubFake() as gh, FakeWebhook() as hook:
        Path("hee-monitor.toml").write_text(
            '[repos."octo/app"]\nalert_channels = ["pager"]\n'
            f'[alerts.channels.pager]\nurls = ["json://{hook.base}/pager/T0K3N"]\n'
            "min_interval = 0\n"
        )
        gh.add_run("octo/app", jobs=[JobSpec("build", log_text=SWIFT)])
        gh.add_run("octo/lib", jobs=[JobSpec("build", log_text=SWIFT)])
        code = run(
            [
                "monitor",
                "--api-url",
                gh.url,
                "--repo",
                "octo/app",
                "--repo",
                "octo/lib",
                "--database",
                f"sqlite:///{tmp_path}/a.db",
                "--state-capsule",
                str(tmp_path / "c.json"),
            ]
        )
        posts = [p.json()["title"] for p in hook.posts_to("/pager/")]
    assert code == 0, capsys.readouterr().err
    # octo/app's critical alert went to its pager; octo/lib's followed the matrix (console)
    assert len(posts) == 1 and posts[0].startswith("[CRITICAL] octo/app:")


def test_one_capsule_per_repository_with_placeholders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.github import GitHubFake, JobSpec

    _isolate(monkeypatch, tmp_path, token="ghp_per_repo_0123456789", unset="GITHUB_STEP_SUMMARY")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out.txt"))
    ruff_log = "app.py:1:8: F401 [*] `os` imported but unused\nFound 1 error.\n"
    with GitHubFake() as gh:
        app = gh.add_run("octo/app", jobs=[JobSpec("build", log_text=SWIFT)])
        lib = gh.add_run("octo/lib", jobs=[JobSpec("lint", log_text=ruff_log)])
        code = run(
            [
                "monitor",
                "--api-url",
                gh.url,
                "--repo",
                "octo/app",
                "--repo",
                "octo/lib",
                "--state-capsule",
                str(tmp_path / "{owner}" / "{name}" / "current.json"),
                "--database",
                f"sqlite:///{tmp_path}/{{owner}}/{{name}}/audit.db",
                "--format",
                "json",
            ]
        )
    assert code == 0, capsys.readouterr().err
    cycles = json.loads(capsys.readouterr().out)["cycles"]
    assert [c["repository"] for c in cycles] == ["octo/app", "octo/lib"]
    for repo, run_id in (("octo/app", app.id), ("octo/lib", lib.id)):
        capsule = json.loads((tmp_path / repo / "current.json").read_text())
        assert capsule["repository"] == repo
        assert [e["run_key"] for e in capsule["decision_history"]] == [f"{repo}#{run_id}.1"]
        assert (tmp_path / repo / "audit.db").is_file()
    # the lint failure of octo/lib is fixable; its diagnosis lies next to its own capsule
    assert (tmp_path / "octo/app/hee-diagnosis.json").read_text() == ""
    (line,) = (tmp_path / "octo/lib/hee-diagnosis.json").read_text().splitlines()
    assert json.loads(line)["repo"] == "octo/lib"
    outputs = dict(x.split("=", 1) for x in (tmp_path / "out.txt").read_text().splitlines())
    assert outputs["fix_required"] == "true" and outputs["fix_required_repos"] == "octo/lib"
    assert outputs["health_state"] == "failed" and outputs["new_failures"] == "2"


def test_per_repository_capsule_needs_a_per_repository_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "monitor",
            "--repo",
            "octo/app",
            "--state-capsule",
            str(tmp_path / "{owner}" / "{name}" / "current.json"),
            "--database",
            f"sqlite:///{tmp_path}/audit.db",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "needs a per-repository audit database" in err and "{owner}" in err
    assert not (tmp_path / "audit.db").exists()


def test_continuous_mode_keeps_one_capsule_per_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.github import GitHubFake, JobSpec

    _isolate(monkeypatch, tmp_path, token="ghp_per_repo_0123456789", unset="GITHUB_OUTPUT")
    with GitHubFake() as gh:
        gh.add_run("octo/app", jobs=[JobSpec("build", log_text=SWIFT)])
        code = run(
            [
                "monitor",
                "--mode",
                "continuous",
                "--max-cycles",
                "1",
                "--api-url",
                gh.url,
                "--repo",
                "octo/app",
                "--repo",
                "octo/lib",
                "--state-capsule",
                str(tmp_path / "{owner}-{name}.json"),
                "--database",
                f"sqlite:///{tmp_path}/{{owner}}-{{name}}.db",
            ]
        )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "== octo/app" in captured.out and "stopped after 1 cycle(s)" in captured.err
    app = json.loads((tmp_path / "octo-app.json").read_text())
    assert app["monitoring_state"]["current_status"] == "failed"
    # octo/lib had no failure: nothing was written for it, and octo/app's failure is not its
    assert not (tmp_path / "octo-lib.json").exists()
    assert "== octo/lib" not in captured.out


def test_a_cycle_that_could_read_no_repository_fails_the_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduled job that checked nothing must not pass for one that found nothing; one
    unreadable repository among others is a skip in the report, not a failure."""
    from hee_monitor.cli.monitor import NOT_CHECKED
    from tests.fakes.github import GitHubFake

    _isolate(monkeypatch, tmp_path, token="ghp_unread_0123456789", unset="GITHUB_OUTPUT")
    with GitHubFake() as gh:
        gh.add_run("octo/app")
        common = ["monitor", "--api-url", gh.url, "--database", f"sqlite:///{tmp_path}/a.db"]
        capsule = ["--state-capsule", str(tmp_path / "c.json"), "--format", "json"]
        code = run([*common, "--repo", "octo/app", "--repo", "octo/gone", *capsule])
        out, _ = capsys.readouterr()
        assert code == 0
        assert [s["repo"] for s in json.loads(out)["skipped"]] == ["octo/gone"]
        code = run([*common, "--repo", "octo/gone", *capsule])
    err = capsys.readouterr().err
    assert code == NOT_CHECKED == 3
    assert "no repository could be checked" in err and "ghp_unread" not in err


def test_a_rejected_token_exits_3_with_the_reason_never_operational(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakes.github import GitHubFake

    _isolate(monkeypatch, tmp_path, token="ghp_revoked_0123456789", unset="GITHUB_OUTPUT")
    with GitHubFake() as gh:
        gh.add_run("octo/app")
        gh.require_token("ghp_the_new_one_0123456789")
        common = ["monitor", "--api-url", gh.url, "--database", f"sqlite:///{tmp_path}/a.db"]
        code = run([*common, "--repo", "octo/app", "--state-capsule", str(tmp_path / "c.json")])
    out, err = capsys.readouterr()
    assert code == 3
    assert "401" in err and "ghp_revoked" not in err + out
    assert "operational" not in out and "stopped:" in out


def test_an_effects_worker_performs_what_a_monitor_decided(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.decision.test_transient import PYTEST_CONNECTION_RESET
    from tests.fakes.github import GitHubFake, JobSpec

    _isolate(monkeypatch, tmp_path, token="ghp_worker_0123456789", unset="GITHUB_OUTPUT")
    with GitHubFake() as gh:
        gh.add_run("octo/app", jobs=[JobSpec("test", log_text=PYTEST_CONNECTION_RESET)])
        gh.inject("status", path=r"/rerun-failed-jobs$", status=502, times=None)
        common = [
            "monitor",
            "--api-url",
            gh.url,
            "--database",
            f"sqlite:///{tmp_path}/a.db",
            "--repo",
            "octo/app",
            "--state-capsule",
            str(tmp_path / "c.json"),
        ]
        assert run(common) == 0
        assert gh.reruns == []  # decided, not made: GitHub answered 502
        assert "will be retried" in capsys.readouterr().out
        gh.clear_trouble()
        from sqlalchemy import create_engine, update

        from hee_monitor.record.durable import effect_intents

        engine = create_engine(f"sqlite:///{tmp_path}/a.db")
        with engine.begin() as conn:  # its backoff is over
            conn.execute(update(effect_intents).values(next_attempt_at=datetime(2000, 1, 1)))
        assert run([*common, "--mode", "effects", "--max-cycles", "1"]) == 0
        assert len(gh.reruns) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["status"], x["effect"].split(":")[0]) for x in lines] == [("done", "rerun")]
