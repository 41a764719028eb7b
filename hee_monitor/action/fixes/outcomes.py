"""What a fix attempt came to. Normal outcomes, so they are values, not exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hee_monitor.action.fixes.strategies.interface import CheckResult, FixPlan


def _identity(kind: str, pattern_id: str, strategy: str | None, fingerprint: str) -> dict[str, Any]:
    """The keys every outcome's JSON starts with: what came of which fix for which failure."""
    return {
        "outcome": kind,
        "pattern_id": pattern_id,
        "strategy": strategy,
        "fingerprint": fingerprint,
    }


@dataclass(frozen=True)
class FixApplied:
    pattern_id: str
    strategy: str
    fingerprint: str
    files: tuple[str, ...]
    validation: tuple[CheckResult, ...]
    #: the fix branch and its commit (None in pre-commit mode: the fix stays in the tree)
    branch: str | None = None
    commit: str | None = None
    pull_request: str | None = None
    risk: int = 0
    #: what the reader should know (e.g. why no pull request was opened)
    notes: tuple[str, ...] = ()
    #: the plan that was carried out (its validation is what proved the fix)
    plan: FixPlan | None = field(default=None, compare=False)

    kind = "applied"

    @property
    def proof(self) -> str:
        """What proved the fix: the failing command passing again, or (when it cannot be
        re-run here) only the strategy's own check."""
        if self.plan is not None and any(c.sandboxed for c in self.plan.validation):
            return "failing-command"
        return "strategy-check"

    def to_json(self) -> dict[str, Any]:
        return {
            **_identity(self.kind, self.pattern_id, self.strategy, self.fingerprint),
            "proof": self.proof,
            "files": list(self.files),
            "branch": self.branch,
            "commit": self.commit,
            "pull_request": self.pull_request,
            "risk": self.risk,
            "validation": [{"name": c.name, "passed": c.passed} for c in self.validation],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class FixRolledBack:
    pattern_id: str
    strategy: str
    fingerprint: str
    reason: str
    validation_output: str = ""
    restored_files: tuple[str, ...] = ()
    rollback_seconds: float = 0.0

    kind = "rolled-back"

    def to_json(self) -> dict[str, Any]:
        return {
            **_identity(self.kind, self.pattern_id, self.strategy, self.fingerprint),
            "reason": self.reason,
            "validation_output": self.validation_output,
            "restored_files": list(self.restored_files),
        }


@dataclass(frozen=True)
class FixSkipped:
    reason: str
    pattern_id: str = ""
    strategy: str | None = None
    fingerprint: str = ""

    kind = "skipped"

    def to_json(self) -> dict[str, Any]:
        return {
            **_identity(self.kind, self.pattern_id, self.strategy, self.fingerprint),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ApprovalRequested:
    id: str
    pattern_id: str
    strategy: str
    fingerprint: str
    reason: str

    kind = "approval-requested"

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.kind,
            "approval_id": self.id,
            "pattern_id": self.pattern_id,
            "strategy": self.strategy,
            "fingerprint": self.fingerprint,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FixPlanned:
    """Dry run: what would happen, and the exact plan; nothing was touched."""

    pattern_id: str
    fingerprint: str
    plan: FixPlan
    decision: str
    risk: int
    notes: tuple[str, ...] = field(default=())

    kind = "planned"

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.kind,
            "pattern_id": self.pattern_id,
            "fingerprint": self.fingerprint,
            "decision": self.decision,
            "risk": self.risk,
            "plan": self.plan.to_json(),
        }


FixOutcome = FixApplied | FixRolledBack | FixSkipped | ApprovalRequested | FixPlanned
