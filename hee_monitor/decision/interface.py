"""The policy port: facts in, a decision out.

``decide(facts, now) -> Decision`` is pure: the same facts give the same decision. Facts
carry everything the rules look at (the findings, the repository's settings, the current
health state and counts from recent history); the caller gathers them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hee_monitor.core.models import Finding, HealthState, Severity


class Action(enum.StrEnum):
    ALERT = "alert"
    RERUN = "rerun"
    AUTO_FIX = "auto_fix"
    OPEN_PR = "open_pr"
    ASK_APPROVAL = "ask_approval"
    ESCALATE = "escalate"
    LABEL_FLAKY = "label_flaky"
    NONE = "none"


#: the order actions are listed in a decision, whatever order the rules fired in
ACTION_ORDER: tuple[Action, ...] = tuple(Action)


class Event(enum.StrEnum):
    """What happened that the policy is asked about."""

    FAILED_RUN = "failed_run"  # a run attempt failed
    RERUN_PASSED = "rerun_passed"  # a re-run of the same commit succeeded
    FIX_SUCCEEDED = "fix_succeeded"  # an automatic fix was applied and validated
    QUIET = "quiet"  # no failure in the recovery window


@dataclass(frozen=True)
class PolicySettings:
    """The ``[policy]`` section with a repository's overrides applied."""

    #: failures of one fingerprint within ``window_seconds`` that escalate
    escalate_after: int = 3
    window_seconds: int = 3600
    #: re-runs of one run that a transient failure gets
    max_reruns: int = 3
    #: failed attempts of a fix strategy for one fingerprint before it is no longer tried
    max_fix_failures: int = 3
    #: findings with risk above this are not fixed without approval
    risk_threshold: int = 3
    #: a protected repository is never changed without approval
    protected: bool = False
    #: quiet time after which a degraded or failed pipeline counts as recovered
    recovery_seconds: int = 21600


@dataclass(frozen=True)
class PolicyFacts:
    event: Event
    repo: str
    state: HealthState
    settings: PolicySettings = field(default_factory=PolicySettings)
    run_key: str = ""
    #: the root cause of each explained failed job of the run (one per fingerprint)
    findings: tuple[Finding, ...] = ()
    failed_jobs: int = 0
    #: failed jobs whose log nothing explained
    unexplained_jobs: int = 0
    #: re-runs already requested for this run
    reruns_requested: int = 0
    #: highest count over this run's fingerprints of failures in the window (this one included)
    recent_occurrences: int = 0
    #: failed attempts of the root cause's fix strategy for its fingerprint
    failed_fix_attempts: int = 0
    #: a re-run of the same commit passed before for one of these fingerprints
    known_flaky: bool = False
    #: critical incidents still open (for recovery decisions)
    open_critical_incidents: int = 0


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...]
    #: state triggers to fire, in order (each valid from the state the previous one reached)
    triggers: tuple[str, ...]
    from_state: HealthState
    to_state: HealthState
    reasons: tuple[str, ...]
    #: names of the rules that fired, in rule order
    rules: tuple[str, ...]
    #: how urgent the alert is (None when there is nothing to tell)
    severity: Severity | None = None

    @property
    def primary_action(self) -> Action:
        return self.actions[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [a.value for a in self.actions],
            "triggers": list(self.triggers),
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "reasons": list(self.reasons),
            "rules": list(self.rules),
            "severity": self.severity.value if self.severity else None,
        }


class Policy(Protocol):
    def decide(self, facts: PolicyFacts, now: datetime) -> Decision: ...
