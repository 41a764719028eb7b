"""Values that flow between the stages: sources → analysis → decision → action → record.

All are frozen dataclasses. Normal outcomes (an unexplained log, a skipped fix, a muted
alert) are values like these, never exceptions.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hee_monitor.core.redact import redact, redact_data


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is more severe: critical 4 … low 1."""
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_SEVERITY_RANK = {Severity.CRITICAL: 4, Severity.HIGH: 3, Severity.MEDIUM: 2, Severity.LOW: 1}


class Owner(enum.StrEnum):
    """Who has to act: DEVOPS (infrastructure, runner, network, dependencies, configuration)
    or DEVELOPER (code, tests, lint)."""

    DEVOPS = "DEVOPS"
    DEVELOPER = "DEVELOPER"


class Category(enum.StrEnum):
    COMPILATION = "compilation"
    TEST = "test"
    LINT = "lint"
    TYPE_CHECK = "type-check"
    FORMAT = "format"
    DEPENDENCY = "dependency"
    SECURITY = "security"
    LICENSE = "license"
    TIMEOUT = "timeout"
    INFRASTRUCTURE = "infrastructure"
    NETWORK = "network"
    AUTH = "auth"
    RESOURCE = "resource"
    CONFIGURATION = "configuration"
    CRASH = "crash"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class AutoFix(enum.StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class HealthState(enum.StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    FAILED = "failed"
    MAINTENANCE = "maintenance"


@dataclass(frozen=True)
class Evidence:
    """Lines of the original log that show a failure. 1-based, inclusive."""

    start_line: int
    end_line: int
    text: str

    def __post_init__(self) -> None:
        # the redaction gate for log text: whatever holds evidence (every analyze format,
        # the audit store, capsules, alerts, pull requests) holds it redacted
        object.__setattr__(self, "text", redact(self.text))

    def to_json(self) -> dict[str, Any]:
        return {"start_line": self.start_line, "end_line": self.end_line, "text": self.text}


@dataclass(frozen=True)
class Finding:
    """One failure found in a log (or in run metadata, artifacts, JUnit XML, the LLM)."""

    pattern_id: str
    title: str
    category: str
    severity: Severity
    #: None when nothing tells who has to act (the pattern-free fallback, unless a
    #: pattern agrees with it)
    owner: Owner | None
    risk: int
    transient: bool
    confidence: float
    fix_strategy: str | None
    fingerprint: str
    evidence: tuple[Evidence, ...]
    #: where the finding came from: "pattern", "junit", "metadata", "artifact", "llm:<model>"
    source: str = "pattern"
    auto_fix: AutoFix = AutoFix.NONE
    rollback_required: bool = True
    #: free-form details a source adds (e.g. the LLM's summary and suggested fix)
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: ids of other patterns that matched the same failure (generic summaries such as
    #: "exit code 1", or findings whose evidence lies entirely within this one's), folded
    #: into this finding instead of being listed as separate failures
    related: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # titles and details can quote the log (a step's command, an LLM's summary)
        object.__setattr__(self, "title", redact(self.title))
        if self.details:
            object.__setattr__(self, "details", redact_data(self.details))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "pattern_id": self.pattern_id,
            "title": self.title,
            "category": self.category,
            "severity": self.severity.value,
            "owner": self.owner.value if self.owner is not None else None,
            "risk": self.risk,
            "transient": self.transient,
            "confidence": round(self.confidence, 3),
            "fix_strategy": self.fix_strategy,
            "fingerprint": self.fingerprint,
            "evidence": [e.to_json() for e in self.evidence],
        }
        if self.source != "pattern":
            data["source"] = self.source
        if self.details:
            data["details"] = self.details
        if self.related:
            data["related"] = list(self.related)
        return data


@dataclass(frozen=True)
class Diagnosis:
    """Why one log failed: findings ordered most likely root cause first."""

    log: str
    lines: int
    failures: tuple[Finding, ...]
    #: a note for the reader, e.g. why the LLM fallback was not used
    notes: tuple[str, ...] = ()
    analysis_seconds: float = 0.0

    @property
    def unexplained(self) -> bool:
        return not self.failures

    @property
    def root_cause(self) -> Finding | None:
        return self.failures[0] if self.failures else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "log": self.log,
            "lines": self.lines,
            "failures": [f.to_json() for f in self.failures],
            "unexplained": self.unexplained,
        }
        if self.notes:
            data["notes"] = list(self.notes)
        return data


def duration_seconds(started_at: datetime | None, completed_at: datetime | None) -> float | None:
    """Seconds from start to completion; None when either time is unknown."""
    if started_at is None or completed_at is None:
        return None
    return (completed_at - started_at).total_seconds()


@dataclass(frozen=True)
class FailedJob:
    """A failed job of a workflow run and a way to stream its log."""

    job_id: int
    name: str
    conclusion: str
    failed_steps: tuple[str, ...] = ()
    started_at: datetime | None = None
    completed_at: datetime | None = None
    html_url: str | None = None
    #: opens the job's log as a stream of bytes chunks; None when the log is not available
    open_log: Callable[[], Iterator[bytes]] | None = field(default=None, compare=False)

    @property
    def duration_seconds(self) -> float | None:
        return duration_seconds(self.started_at, self.completed_at)


@dataclass(frozen=True)
class FailedRun:
    """A completed workflow run that did not succeed (failure, timed_out, cancelled, ...)."""

    repo: str
    run_id: int
    run_attempt: int
    workflow: str
    head_sha: str
    branch: str | None
    event: str
    conclusion: str
    jobs: tuple[FailedJob, ...]
    html_url: str | None = None
    head_commit_message: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    labels: tuple[str, ...] = ()
    #: the workflow's id (its last green run of the same branch is the job's baseline)
    workflow_id: int | None = None
    #: the branch a pull request targets (its last green run is the baseline), else None
    base_branch: str | None = None

    @property
    def key(self) -> str:
        """Identity of this run attempt: processed exactly once."""
        return f"{self.repo}#{self.run_id}.{self.run_attempt}"


@dataclass(frozen=True)
class JobRecord:
    """One failed job as analysed: its diagnosis, or why it could not be analysed."""

    job: FailedJob
    diagnosis: Diagnosis | None
    skipped: str | None = None


@dataclass(frozen=True)
class Alert:
    """Something a person should be told about."""

    repo: str
    severity: Severity
    title: str
    body: str
    #: what groups and dedupes alerts: same repo + fingerprint → one alert with a count
    fingerprint: str
    kind: str = "failure"  # failure | resolved | approval | token | escalation
    pattern_id: str | None = None
    url: str | None = None
    created_at: datetime | None = None
    count: int = 1
