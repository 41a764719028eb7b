"""The cycle's hooks for detection beyond the log, skip flags, escalation and token checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hee_monitor.action.escalation.issues import EscalationSettings, IssueEscalator
from hee_monitor.action.escalation.store import EscalationStore
from hee_monitor.analysis.detection.detector import RunDetector
from hee_monitor.core.clock import FakeClock
from hee_monitor.core.models import Alert, AutoFix, FailedJob, FailedRun, Finding, Owner, Severity
from hee_monitor.decision.interface import Action, PolicySettings
from hee_monitor.decision.rules import RulesPolicy
from hee_monitor.decision.skip import SkipSettings, skip_decision
from hee_monitor.record.audit import AuditStore
from hee_monitor.service.cycle import MonitorCycle
from tests.fakes.memory import ListSource, MemoryCapsule, RecordingNotifier, ScriptedAnalyzer

START = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
FIXABLE = Finding(
    "RUFF", "ruff found fixable errors", "lint", Severity.MEDIUM, Owner.DEVELOPER, 1, False,
    0.9, "ruff-fix", "fp-ruff", (), auto_fix=AutoFix.FULL,
)  # fmt: skip


def run(run_id: int, message: str = "Tidy up", job: str = "lint") -> FailedRun:
    return FailedRun(
        "octo/app", run_id, 1, "CI", "abc1234", "main", "push", "failure",
        (FailedJob(run_id, job, "failure", ("Run tests",), START - timedelta(minutes=5),
                   START - timedelta(seconds=30), open_log=lambda: iter([b"x\n"])),),
        head_commit_message=message, updated_at=START - timedelta(seconds=20),
    )  # fmt: skip


def cycle(tmp_path: Path, runs: list[FailedRun], **hooks: object) -> MonitorCycle:
    return MonitorCycle(
        sources=[ListSource(list(runs))],
        analyzer=ScriptedAnalyzer({"lint": (FIXABLE,)}),
        policy=RulesPolicy(),
        audit=AuditStore.open(f"sqlite:///{tmp_path}/audit.db"),
        capsule=MemoryCapsule(),
        clock=FakeClock(START),
        settings_for=lambda _r: PolicySettings(),
        **hooks,  # type: ignore[arg-type]
    )


def test_a_skip_flagged_run_gets_no_fix_and_the_audit_log_says_why(tmp_path: Path) -> None:
    plain = cycle(tmp_path / "a", [run(1)]).run_once()
    assert plain.fix_required
    settings = SkipSettings()
    flagged = cycle(
        tmp_path / "b", [run(2, "Tidy up [skip hee]")],
        skip_for=lambda r: skip_decision(r, settings),
    )  # fmt: skip
    report = flagged.run_once()
    assert not report.fix_required
    (outcome,) = report.runs
    assert outcome.decision is not None
    assert Action.AUTO_FIX not in outcome.decision.actions
    (row,) = flagged.audit.query()
    assert any("[skip hee]" in reason for reason in row["reasons"])


def test_metadata_findings_reach_the_diagnosis_when_the_log_says_nothing(tmp_path: Path) -> None:
    c = cycle(tmp_path, [run(1, job="unit tests")], detector=RunDetector().detect)
    (outcome,) = c.run_once().runs
    (diagnosis,) = outcome.diagnoses
    assert diagnosis.root_cause is not None
    assert (diagnosis.root_cause.pattern_id, diagnosis.root_cause.source) == ("PAT-002", "metadata")


def test_a_failing_detector_costs_nothing_but_itself(tmp_path: Path) -> None:
    def broken(_run: object, _jobs: object) -> list[object]:
        raise RuntimeError("boom")

    (outcome,) = cycle(tmp_path, [run(1)], detector=broken).run_once().runs
    assert outcome.diagnoses[0].root_cause == FIXABLE


def test_escalation_and_token_watch_are_called_each_cycle(tmp_path: Path) -> None:
    store = EscalationStore(AuditStore.open(f"sqlite:///{tmp_path}/audit.db").engine)
    esc = IssueEscalator(store, None, EscalationSettings(enabled=True, occurrences=2, dry_run=True))
    checked: list[datetime] = []

    def token_watch(now: datetime) -> list[Alert]:
        checked.append(now)
        return [
            Alert(
                "octo/app",
                Severity.HIGH,
                "GitHub token: expired",
                "x",
                "token:expiry",
                kind="token",
            )
        ]

    notifier = RecordingNotifier()
    c = cycle(tmp_path, [run(1), run(2)], escalator=esc, token_watch=token_watch, notifier=notifier)
    c.run_once()
    assert checked == [START]
    assert [a.kind for a in notifier.alerts][:1] == ["token"]
    assert c.audit.metrics().alerts.get("sent", 0) >= 1
    (action,) = esc.last_actions
    assert action.step == "open" and action.dry_run
    assert store.get("octo/app", "fp-ruff") is not None
    assert replace(action, body="").title.startswith("CI failure: ruff")


def test_a_skip_that_withholds_alerts_withholds_escalation_too(tmp_path: Path) -> None:
    store = EscalationStore(AuditStore.open(f"sqlite:///{tmp_path}/audit.db").engine)
    esc = IssueEscalator(store, None, EscalationSettings(enabled=True, occurrences=1))
    quiet = SkipSettings(alerts=True)
    c = cycle(
        tmp_path,
        [run(1, "x [skip hee]")],
        escalator=esc,
        skip_for=lambda r: skip_decision(r, quiet),
    )
    (outcome,) = c.run_once().runs
    assert outcome.decision is not None and outcome.decision.actions == (Action.NONE,)
    assert store.all() == []
