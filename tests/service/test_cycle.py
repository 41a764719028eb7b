from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import (
    AutoFix,
    FailedJob,
    FailedRun,
    Finding,
    HealthState,
    Owner,
    Severity,
)
from hee_monitor.decision.interface import Action, PolicySettings
from hee_monitor.decision.rules import RulesPolicy
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.schema import decisions, findings, processed_runs
from hee_monitor.service.cycle import MonitorCycle
from hee_monitor.service.ports import Skipped
from hee_monitor.service.wiring import pattern_analyzer
from tests.decision.test_transient import PYTEST_CONNECTION_RESET
from tests.fakes.memory import (
    ListSource,
    MemoryCapsule,
    RecordingNotifier,
    RecordingRunControl,
    RunStatus,
    ScriptedAnalyzer,
)

START = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


def finding(
    pid: str,
    *,
    severity: Severity = Severity.HIGH,
    transient: bool = False,
    fix: str | None = None,
    auto_fix: AutoFix = AutoFix.NONE,
) -> Finding:
    return Finding(
        pid,
        f"{pid} failed",
        "test",
        severity,
        Owner.DEVELOPER,
        2,
        transient,
        0.9,
        fix,
        f"fp-{pid}",
        (),
        auto_fix=auto_fix,
    )


def job(name: str, job_id: int = 1, log: bytes | None = b"line\nerror\n") -> FailedJob:
    opener = (lambda: iter([log])) if log is not None else None
    return FailedJob(
        job_id, name, "failure", completed_at=START - timedelta(seconds=30), open_log=opener
    )


def run(run_id: int, *jobs: FailedJob, attempt: int = 1) -> FailedRun:
    return FailedRun(
        "octo/app",
        run_id,
        attempt,
        "CI",
        "abc1234",
        "main",
        "push",
        "failure",
        jobs or (job("test"),),
        html_url=f"https://github.example/run/{run_id}",
        updated_at=START - timedelta(seconds=20),
    )


class Env:
    def __init__(
        self,
        tmp_path: Path,
        items: list[FailedRun | Skipped],
        found: dict[str, tuple[Finding, ...]],
        *,
        fail_on: frozenset[str] = frozenset(),
        state: str = "operational",
    ) -> None:
        self.clock = FakeClock(START)
        self.audit = AuditStore.open(f"sqlite:///{tmp_path}/audit.db")
        self.capsule = MemoryCapsule()
        self.capsule.payload["monitoring_state"]["current_status"] = state
        self.notifier = RecordingNotifier()
        self.control = RecordingRunControl()
        self.source = ListSource(items)
        self.analyzer = ScriptedAnalyzer(found, fail_on)
        self.cycle = MonitorCycle(
            sources=[self.source],
            analyzer=self.analyzer,
            policy=RulesPolicy(),
            audit=self.audit,
            capsule=self.capsule,
            clock=self.clock,
            notifier=self.notifier,
            run_control=self.control,
            settings_for=lambda _r: PolicySettings(),
        )

    @property
    def state(self) -> str:
        return str(self.capsule.payload["monitoring_state"]["current_status"])


def test_failed_run_is_diagnosed_decided_recorded_and_alerted(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1)], {"test": (finding("PY-TEST"),)})
    report = env.cycle.run_once()
    assert report.state_before is HealthState.OPERATIONAL
    assert report.state_after is HealthState.DEGRADED and env.state == "degraded"
    [outcome] = report.runs
    assert outcome.decision is not None and outcome.decision.actions == (Action.ALERT,)
    assert env.audit.count(findings) == 1 and env.audit.count(decisions) == 1
    [alert] = env.notifier.alerts
    assert alert.severity is Severity.HIGH and "PY-TEST failed" in alert.title
    p = env.capsule.payload
    assert p["monitoring_state"]["last_run_id"] == "1"
    assert p["decision_history"][-1]["trigger"] == "failures_detected"
    assert p["open_incidents"][0]["pattern_id"] == "PY-TEST"
    assert env.audit.metrics().detection_latency_seconds["mean"] == 30.0


def test_each_run_is_processed_exactly_once(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1), run(1)], {"test": (finding("PY-TEST"),)})
    env.cycle.run_once()
    env.cycle.run_once()
    assert env.audit.count(processed_runs) == 1
    assert len(env.notifier.alerts) == 1
    assert env.analyzer.calls == ["octo/app#1.1/test"]
    assert env.capsule.payload["open_incidents"][0]["occurrences"] == 1


def test_bad_log_and_missing_log_do_not_stop_the_cycle(tmp_path: Path) -> None:
    items: list[FailedRun | Skipped] = [
        run(1, job("broken"), job("nolog", 2, log=None)),
        Skipped("octo/app", "run 2: log archive expired", 2),
        run(3),
    ]
    env = Env(tmp_path, items, {"test": (finding("PY-TEST"),)}, fail_on=frozenset({"broken"}))
    report = env.cycle.run_once()
    assert [r.key for r in report.runs] == ["octo/app#1.1", "octo/app#3.1"]
    first = report.runs[0]
    assert first.skipped == (
        "broken: RuntimeError: cannot read octo/app#1.1/broken",
        "nolog: log not available",
    )
    assert first.decision is not None and "2 unexplained" in first.decision.reasons[0]
    assert [s.run_id for s in report.skipped] == [2]
    assert env.audit.metrics().runs_skipped == 1


def test_critical_finding_fails_the_pipeline(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1)], {"test": (finding("SEC-LEAK", severity=Severity.CRITICAL),)})
    report = env.cycle.run_once()
    assert env.state == "failed"
    assert [t.trigger for t in report.runs[0].transitions] == [
        "failures_detected",
        "critical_failure",
    ]


def test_transient_run_is_rerun_then_labelled_flaky_when_it_passes(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1)], {"test": (finding("NET-RESET", transient=True),)})
    env.cycle.run_once()
    assert env.control.reruns == [("octo/app", 1)] and env.state == "operational"
    env.source.items = []
    env.control.statuses[("octo/app", 1)] = RunStatus("octo/app", 1, 2, "completed", "success")
    report = env.cycle.run_once()
    assert report.recoveries and report.recoveries[0].rules == ("flaky_detected",)
    assert env.audit.is_flaky(["fp-NET-RESET"])
    # the same failure later is flaky: labelled, state kept
    env.source.items = [run(5)]
    report = env.cycle.run_once()
    assert report.runs[0].decision is not None
    assert Action.LABEL_FLAKY in report.runs[0].decision.actions and env.state == "operational"


@pytest.mark.parametrize(
    ("log", "action", "reruns"),
    [
        pytest.param(PYTEST_CONNECTION_RESET, Action.RERUN, 1, id="test failed on the network"),
        pytest.param(
            b"error[E0308]: mismatched types\n --> src/lib.rs:4:9\n"
            b"error: could not compile `app` (lib) due to 1 previous error\n"
            + PYTEST_CONNECTION_RESET,
            Action.ALERT,
            0,
            id="compile error and a connection reset",
        ),
    ],
)
def test_a_real_log_is_judged_by_the_cause_under_its_symptoms(
    tmp_path: Path, log: bytes, action: Action, reruns: int
) -> None:
    env = Env(tmp_path, [run(1, job("tests (3.12)", log=log))], {})
    env.cycle.analyzer = pattern_analyzer()
    [outcome] = env.cycle.run_once().runs
    assert outcome.decision is not None and outcome.decision.primary_action is action
    assert len(env.control.reruns) == reruns


def test_transient_failure_rerun_at_most_three_times(tmp_path: Path) -> None:
    env = Env(tmp_path, [], {"test": (finding("NET-RESET", transient=True),)})
    for attempt in range(1, 6):
        env.source.items = [run(1, attempt=attempt)]
        env.cycle.run_once()
    assert env.control.reruns == [("octo/app", 1)] * 3
    assert env.state == "degraded"


def test_maintenance_mutes_alerts_and_pauses_reruns(tmp_path: Path) -> None:
    items: list[FailedRun | Skipped] = [run(1), run(2, job("net"))]
    found = {
        "test": (finding("PY-TEST", severity=Severity.CRITICAL),),
        "net": (finding("NET", transient=True),),
    }
    env = Env(tmp_path, items, found, state="maintenance")
    report = env.cycle.run_once()
    assert env.notifier.alerts == [] and env.control.reruns == []
    assert report.runs[0].alerts[0][0] == "muted" and env.state == "maintenance"
    assert not report.fix_required
    assert env.audit.metrics().alerts == {"muted": 1}


def test_alert_level_mutes_lower_severities(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1)], {"test": (finding("LINT", severity=Severity.MEDIUM),)})
    env.cycle.alert_level = Severity.HIGH
    env.cycle.run_once()
    assert env.notifier.alerts == []
    assert env.audit.metrics().alerts == {"muted": 1}


def test_fix_decision_sets_fix_required_and_approval_is_asked(tmp_path: Path) -> None:
    fixable = finding("RUFF", fix="ruff-fix", auto_fix=AutoFix.FULL)
    env = Env(tmp_path, [run(1)], {"test": (fixable,)})
    assert env.cycle.run_once().fix_required
    risky = Finding(
        "DEP",
        "dep",
        "dependency",
        Severity.HIGH,
        Owner.DEVOPS,
        5,
        False,
        0.9,
        "pin",
        "fp-DEP",
        (),
        auto_fix=AutoFix.FULL,
    )
    env2 = Env(tmp_path / "b", [run(2)], {"test": (risky,)})
    report = env2.cycle.run_once()
    assert not report.fix_required
    assert [a.kind for a in env2.notifier.alerts] == ["failure", "approval"]


def test_quiet_window_recovers_a_degraded_pipeline(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1)], {"test": (finding("PY-TEST"),)})
    env.cycle.run_once()
    env.source.items = []
    env.clock.advance(3600)
    assert env.cycle.run_once().state_after is HealthState.DEGRADED
    env.clock.advance(6 * 3600)
    report = env.cycle.run_once()
    assert report.state_after is HealthState.OPERATIONAL and env.state == "operational"
    assert env.capsule.payload["open_incidents"] == []
    assert env.notifier.recoveries == ["octo/app"] and env.notifier.flushes == 3


def test_a_notifier_that_raises_is_retried_later_and_alerts_once(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1)], {"test": (finding("PY-TEST"),)})

    class Broken(RecordingNotifier):
        def notify(self, alert: object, now: datetime) -> str:
            raise ConnectionError("smtp down")

    env.cycle.notifier = Broken()
    report = env.cycle.run_once()
    assert report.runs[0].alerts[0][0] == "retrying"
    [effect] = [e for e in report.effects if e.intent.kind == "alert"]
    assert effect.status == "retry" and "smtp down" in effect.detail
    assert env.audit.metrics().alerts == {}
    working = RecordingNotifier()
    env.cycle.notifier = working
    env.clock.advance(3600)
    env.cycle.run_once()
    env.cycle.run_once()
    assert len(working.alerts) == 1
    assert env.audit.metrics().alerts == {"sent": 1}


@pytest.mark.parametrize("n", [3])
def test_recurring_fingerprint_escalates(tmp_path: Path, n: int) -> None:
    env = Env(tmp_path, [run(i) for i in range(1, n + 1)], {"test": (finding("PY-TEST"),)})
    report = env.cycle.run_once()
    last = report.runs[-1].decision
    assert last is not None and Action.ESCALATE in last.actions
    assert env.notifier.alerts[-1].kind == "escalation"


def test_capsule_catches_up_with_decisions_a_crash_kept_out(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1), run(2)], {"test": (finding("PY-TEST"),)})

    class CrashingCapsule(MemoryCapsule):
        def update(self, mutator, *, now):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt  # the process dies after the audit commit

    real = env.capsule
    env.cycle.capsule = CrashingCapsule(real.payload)
    with pytest.raises(KeyboardInterrupt):
        env.cycle.run_once()
    env.cycle.capsule = real
    env.cycle.run_once()
    keys = [e["run_key"] for e in real.payload["decision_history"]]
    assert keys == ["octo/app#1.1", "octo/app#2.1"]
    assert env.state == "degraded"
    assert env.audit.count(processed_runs) == 2


def test_repository_scope_branches_and_enabled_patterns(tmp_path: Path) -> None:
    other = FailedRun("octo/app", 9, 1, "CI", "abc", "feature/x", "push", "failure", (job("test"),))
    env = Env(tmp_path, [other, run(1)], {"test": (finding("GEN-ERROR"), finding("PY-TEST"))})
    env.cycle.scope_for = lambda _repo: (("ma*", "release/*"), ("PY-TEST",))
    report = env.cycle.run_once()
    assert [r.key for r in report.runs] == ["octo/app#1.1"]
    assert env.audit.seen("octo/app#9.1")  # not watched, not retried
    assert env.capsule.payload["open_incidents"][0]["pattern_id"] == "PY-TEST"


def test_a_fix_the_engine_applied_recovers_and_closes_its_incident(tmp_path: Path) -> None:
    from hee_monitor.action.fixes.records import finish_attempt, start_attempt

    env = Env(tmp_path, [run(1)], {"test": (finding("RUFF"),)})
    env.cycle.run_once()
    assert env.state == "degraded"
    attempt = start_attempt(
        env.audit.engine,
        fingerprint="fp-RUFF",
        pattern_id="RUFF",
        strategy="ruff-fix",
        repository="octo/app",
        run_id="1",
        started=START,
    )
    finish_attempt(env.audit.engine, attempt, "applied", "")
    env.source.items = []
    report = env.cycle.run_once()
    assert [d.triggers for d in report.recoveries] == [("auto_fix_successful",)]
    assert env.state == "operational" and env.capsule.payload["open_incidents"] == []
    assert env.cycle.run_once().recoveries == ()  # taken into account once


def test_a_stop_request_ends_the_cycle_after_the_current_run(tmp_path: Path) -> None:
    env = Env(tmp_path, [run(1), run(2), run(3)], {"test": (finding("PY-TEST"),)})
    env.cycle.should_stop = lambda: len(env.analyzer.calls) >= 1
    report = env.cycle.run_once()
    assert [r.key for r in report.runs] == ["octo/app#1.1"]
    env.cycle.should_stop = lambda: False
    assert [r.key for r in env.cycle.run_once().runs] == ["octo/app#2.1", "octo/app#3.1"]
