"""The decision stage's types: raw facts in, a decision out.

``decide(facts, now) -> Decision`` is pure: the same facts give the same decision. Facts are
raw (the run's root causes with their severity and the job they come from, per-fingerprint
counts, re-runs asked, open incidents, the skip flag, the repository's settings): every
judgement ("transient-only run", "recovery allowed", "the headline cause") is the rules'
job. :func:`hee_monitor.decision.facts.gather_facts` builds them from a run and its history.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from hee_monitor.core.config import PolicySettings as PolicySettings  # the [policy] section
from hee_monitor.core.models import Finding, HealthState, Severity

if TYPE_CHECKING:
    from hee_monitor.decision.skip import SkipDecision


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
class Cause:
    """One root cause of a failed run (one per fingerprint), with its history."""

    finding: Finding
    #: the failed job it explains
    job: str = ""
    #: failures of this fingerprint within the window, this one included
    occurrences: int = 1
    #: failed attempts of its fix strategy for this fingerprint
    fix_failures: int = 0
    #: a re-run of the same commit passed before for this fingerprint
    flaky: bool = False


@dataclass(frozen=True)
class OpenIncident:
    """An open incident of the pipeline (from the state capsule)."""

    fingerprint: str
    severity: Severity
    pattern_id: str = ""


@dataclass(frozen=True)
class Facts:
    """Everything the rules look at, raw."""

    event: Event
    repo: str
    state: HealthState
    settings: PolicySettings = field(default_factory=PolicySettings)
    run_key: str = ""
    #: the run's conclusion as the forge reports it (failure, cancelled, timed_out, ...)
    conclusion: str = "failure"
    causes: tuple[Cause, ...] = ()
    failed_jobs: int = 0
    #: failed jobs whose log nothing explained
    unexplained_jobs: int = 0
    #: re-runs already requested for this run
    reruns_requested: int = 0
    #: incidents still open after this event resolved its own fingerprints
    open_incidents: tuple[OpenIncident, ...] = ()
    #: the run's skip flag, which withholds fixes (and optionally alerts)
    skip: SkipDecision | None = None

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(c.finding for c in self.causes)

    @property
    def open_serious(self) -> int:
        """Open incidents of high or critical severity (they keep recovery partial)."""
        return sum(1 for i in self.open_incidents if i.severity.at_least(Severity.HIGH))


@dataclass(frozen=True)
class AlertSpec:
    """What the alert about a run says: its headline cause and how urgent it is."""

    severity: Severity
    #: the run's most severe root cause (a real one before a transient one); None when no
    #: pattern explains the log
    headline: Finding | None
    #: "failure" or "escalation"
    kind: str = "failure"


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
    #: the run's headline root cause: what an alert names and a fix works on
    headline: Finding | None = None
    #: the finding a fix (or a fix approval) is for; never a transient one
    fix: Finding | None = None

    @property
    def primary_action(self) -> Action:
        return self.actions[0]

    @property
    def alert(self) -> AlertSpec | None:
        """The alert this decision asks for, if any."""
        if Action.ALERT not in self.actions and Action.ESCALATE not in self.actions:
            return None
        kind = "escalation" if Action.ESCALATE in self.actions else "failure"
        return AlertSpec(self.severity or Severity.MEDIUM, self.headline, kind)

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
    def decide(self, facts: Facts, now: datetime) -> Decision: ...
