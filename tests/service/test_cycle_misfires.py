"""The decisions users saw go wrong, each replayed through a whole monitoring cycle."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hee_monitor.core.models import AutoFix, Finding, Severity
from hee_monitor.decision.interface import Action
from hee_monitor.service.effects import EffectStore
from tests.fakes.memory import RunStatus
from tests.service.test_cycle import Env, finding, job, run


def test_a_passing_rerun_does_not_recover_while_a_high_incident_is_open(tmp_path: Path) -> None:
    found: dict[str, tuple[Finding, ...]] = {
        "test": (finding("PY-TEST", severity=Severity.HIGH),),
        "net": (finding("NET-RESET", severity=Severity.LOW, transient=True),),
    }
    env = Env(tmp_path, [run(1), run(2, job("net"))], found)
    env.cycle.run_once()
    assert env.state == "degraded" and env.control.reruns == [("octo/app", 2)]
    env.source.items = []
    env.control.statuses[("octo/app", 2)] = RunStatus("octo/app", 2, 2, "completed", "success")
    report = env.cycle.run_once()
    # the re-run resolves only its own fingerprint: the high test failure is still open
    assert env.state == "degraded" and report.state_after.value == "degraded"
    assert [i["pattern_id"] for i in env.capsule.payload["open_incidents"]] == ["PY-TEST"]
    assert env.notifier.recoveries == []


def test_a_passing_rerun_recovers_when_only_its_own_incident_was_open(tmp_path: Path) -> None:
    found: dict[str, tuple[Finding, ...]] = {
        "net": (finding("NET-RESET", severity=Severity.LOW, transient=True),)
    }
    env = Env(tmp_path, [run(2, job("net"))], found, state="degraded")
    env.cycle.run_once()
    env.source.items = []
    env.control.statuses[("octo/app", 2)] = RunStatus("octo/app", 2, 2, "completed", "success")
    env.cycle.run_once()
    assert env.state == "operational"


def test_a_cancelled_run_is_not_rerun(tmp_path: Path) -> None:
    cancelled = finding("GHA-CANCELLED", severity=Severity.LOW, transient=True, fix="rerun")
    env = Env(tmp_path, [], {"test": (cancelled,)})
    for attempt in range(1, 4):
        env.source.items = [dataclasses.replace(run(1, attempt=attempt), conclusion="cancelled")]
        env.cycle.run_once()
    assert env.control.reruns == []
    assert not any(a.kind == "escalation" for a in env.notifier.alerts)


def test_a_mixed_run_is_alerted_on_its_real_cause_and_not_fixed_by_rerun(tmp_path: Path) -> None:
    blip = finding("NET-RESET", severity=Severity.LOW, transient=True, fix="rerun")
    blip = dataclasses.replace(blip, auto_fix=AutoFix.FULL)
    found: dict[str, tuple[Finding, ...]] = {
        "net": (blip,),
        "test": (finding("PY-TEST", severity=Severity.HIGH),),
    }
    env = Env(tmp_path, [run(1, job("net", 1), job("test", 2))], found)
    report = env.cycle.run_once()
    [outcome] = report.runs
    assert outcome.decision is not None
    assert Action.RERUN not in outcome.decision.actions
    assert not outcome.fix_required
    [alert] = env.notifier.alerts
    assert "PY-TEST failed" in alert.title and alert.severity is Severity.HIGH


def test_the_headline_is_the_most_severe_root_cause_across_jobs(tmp_path: Path) -> None:
    go_test = finding("GO-TEST", severity=Severity.HIGH)
    compile_error = Finding(
        "GO-COMPILE",
        "Go compile error",
        "build",
        Severity.CRITICAL,
        None,
        2,
        False,
        0.9,
        None,
        "fp-GO-COMPILE",
        (),
    )
    found: dict[str, tuple[Finding, ...]] = {"test": (go_test,), "build": (compile_error,)}
    env = Env(tmp_path, [run(1, job("test", 1), job("build", 2))], found)
    env.cycle.run_once()
    [alert] = env.notifier.alerts
    assert "Go compile error" in alert.title and alert.severity is Severity.CRITICAL
    assert alert.pattern_id == "GO-COMPILE"


def test_a_mixed_run_hands_only_its_real_cause_to_the_fix_engine(tmp_path: Path) -> None:
    blip = finding("NET-RESET", severity=Severity.LOW, transient=True, fix="rerun")
    blip = dataclasses.replace(blip, auto_fix=AutoFix.FULL)
    lint = finding("RUFF", severity=Severity.MEDIUM, fix="ruff-fix", auto_fix=AutoFix.FULL)
    found: dict[str, tuple[Finding, ...]] = {"net": (blip,), "lint": (lint,)}
    env = Env(tmp_path, [run(1, job("net", 1), job("lint", 2))], found)
    [outcome] = env.cycle.run_once().runs
    assert outcome.decision is not None and outcome.decision.fix == lint
    assert outcome.fix_required and env.control.reruns == []
    handed = EffectStore(env.audit.engine).all(kind="fix_handover")
    assert [i.payload["failures"][0]["pattern_id"] for i in handed] == ["RUFF"]
