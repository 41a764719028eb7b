from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hee_monitor.core.models import Diagnosis, FailedJob, FailedRun, HealthState, Severity
from hee_monitor.decision.facts import History, ObservedRun, gather_facts, incidents
from hee_monitor.decision.interface import Event, OpenIncident, PolicySettings
from tests.decision.test_rules import finding

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)


class Counts:
    """The audit store's answers, as plain data (records what was asked)."""

    def __init__(self) -> None:
        self.since: list[datetime] = []

    def occurrences(self, fingerprint: str, *, since: datetime) -> int:
        self.since.append(since)
        return {"fp-A": 2}.get(fingerprint, 0)

    def reruns_requested(self, repo: str, run_id: int) -> int:
        return 1 if (repo, run_id) == ("octo/app", 7) else 0

    def failed_fix_attempts(self, fingerprint: str, strategy: str) -> int:
        return 3 if (fingerprint, strategy) == ("fp-A", "ruff-fix") else 0

    def is_flaky(self, fingerprints: Sequence[str]) -> bool:
        return list(fingerprints) == ["fp-B"]


def diagnosis(*findings: object) -> Diagnosis:
    return Diagnosis("log", 10, tuple(findings))  # type: ignore[arg-type]


def test_gather_facts_collects_raw_facts_per_root_cause() -> None:
    a, b = finding("A", fix="ruff-fix"), finding("B", severity=Severity.LOW)
    jobs = (FailedJob(1, "lint", "failure"), FailedJob(2, "test", "failure"))
    run = FailedRun("octo/app", 7, 1, "CI", "abc", "main", "push", "cancelled", (*jobs, jobs[0]))
    observed = ObservedRun(
        run,
        (
            ("lint", diagnosis(a, b)),  # b is secondary here: only the root cause counts
            ("test", diagnosis(b)),
            ("docs", None),
            ("again", diagnosis(a)),  # same fingerprint: one cause
        ),
    )
    counts = Counts()
    open_one = (OpenIncident("fp-X", Severity.HIGH, "X"),)
    history = History(counts, HealthState.DEGRADED, PolicySettings(), NOW, open_one)
    facts = gather_facts(observed, history)
    assert facts.event is Event.FAILED_RUN and facts.state is HealthState.DEGRADED
    assert facts.conclusion == "cancelled" and facts.run_key == "octo/app#7.1"
    assert [(c.finding.pattern_id, c.job) for c in facts.causes] == [("A", "lint"), ("B", "test")]
    first, second = facts.causes
    assert (first.occurrences, first.fix_failures, first.flaky) == (3, 3, False)
    assert (second.occurrences, second.fix_failures, second.flaky) == (1, 0, True)
    assert (facts.failed_jobs, facts.unexplained_jobs, facts.reruns_requested) == (3, 1, 1)
    assert facts.open_incidents == open_one and facts.open_serious == 1
    assert set(counts.since) == {NOW - timedelta(seconds=3600)}


def test_incidents_left_open_after_a_remedy() -> None:
    raw = [
        {"fingerprint": "fp-1", "severity": "critical", "pattern_id": "P1"},
        {"fingerprint": "fp-2", "severity": "bogus"},
    ]
    assert incidents(raw, ("fp-1",)) == (OpenIncident("fp-2", Severity.MEDIUM, ""),)
    assert len(incidents(raw, ())) == 2
