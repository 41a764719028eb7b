"""Gathering the raw facts a decision is made from: a run as analysed, and its history.

Nothing here judges: it collects the run's root causes (one per fingerprint, with the job
each comes from), counts from the audit store (occurrences of each fingerprint in the
window, failed fix attempts, re-runs asked, flaky fingerprints) and the pipeline's state,
open incidents, skip flag and settings. The rules in :mod:`hee_monitor.decision.rules`
draw every conclusion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from hee_monitor.core.models import Diagnosis, FailedRun, Finding, HealthState, Severity
from hee_monitor.decision.interface import Cause, Event, Facts, OpenIncident, PolicySettings
from hee_monitor.decision.skip import SkipDecision


class Counts(Protocol):
    """What the decision needs from the audit store (``record.audit.AuditStore``)."""

    def occurrences(self, fingerprint: str, *, since: datetime) -> int: ...

    def reruns_requested(self, repo: str, run_id: int) -> int: ...

    def failed_fix_attempts(self, fingerprint: str, strategy: str) -> int: ...

    def is_flaky(self, fingerprints: Sequence[str]) -> bool: ...


@dataclass(frozen=True)
class ObservedRun:
    """A failed run and each failed job's diagnosis (None: the job could not be analysed)."""

    run: FailedRun
    jobs: tuple[tuple[str, Diagnosis | None], ...]


@dataclass(frozen=True)
class History:
    """What is known about the pipeline before this run."""

    counts: Counts
    state: HealthState
    settings: PolicySettings
    now: datetime
    open_incidents: tuple[OpenIncident, ...] = ()
    skip: SkipDecision | None = None


def root_causes(jobs: Sequence[tuple[str, Diagnosis | None]]) -> list[tuple[str, Finding]]:
    """Each job's root cause (its first finding), one per fingerprint, in job order."""
    seen: set[str] = set()
    out: list[tuple[str, Finding]] = []
    for name, diagnosis in jobs:
        if diagnosis is None or not diagnosis.failures:
            continue
        finding = diagnosis.failures[0]
        if finding.fingerprint not in seen:
            seen.add(finding.fingerprint)
            out.append((name, finding))
    return out


def gather_facts(run: ObservedRun, history: History) -> Facts:
    """The raw facts of a failed run for :func:`hee_monitor.decision.rules.decide`."""
    counts = history.counts
    since = history.now - timedelta(seconds=history.settings.window_seconds)
    causes = tuple(
        Cause(
            finding=f,
            job=job,
            occurrences=counts.occurrences(f.fingerprint, since=since) + 1,
            fix_failures=(
                counts.failed_fix_attempts(f.fingerprint, f.fix_strategy) if f.fix_strategy else 0
            ),
            flaky=counts.is_flaky([f.fingerprint]),
        )
        for job, f in root_causes(run.jobs)
    )
    return Facts(
        event=Event.FAILED_RUN,
        repo=run.run.repo,
        state=history.state,
        settings=history.settings,
        run_key=run.run.key,
        conclusion=run.run.conclusion,
        causes=causes,
        failed_jobs=len(run.run.jobs),
        unexplained_jobs=sum(1 for _, d in run.jobs if d is None or d.unexplained),
        reruns_requested=counts.reruns_requested(run.run.repo, run.run.run_id),
        open_incidents=history.open_incidents,
        skip=history.skip,
    )


def incidents(raw: Sequence[Mapping[str, Any]], closes: Sequence[str]) -> tuple[OpenIncident, ...]:
    """The capsule's open incidents that stay open once ``closes`` are resolved."""
    return tuple(
        OpenIncident(
            str(item.get("fingerprint", "")), _severity(item), str(item.get("pattern_id", ""))
        )
        for item in raw
        if item.get("fingerprint") not in closes
    )


def _severity(item: Mapping[str, Any]) -> Severity:
    try:
        return Severity(str(item.get("severity", "medium")))
    except ValueError:
        return Severity.MEDIUM
