"""May this fix run now, alone, or only with a person's approval? A pure function of its
inputs and ``now``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hee_monitor.action.fixes.config import FixConfig
from hee_monitor.action.fixes.files import matches
from hee_monitor.action.fixes.matrix import Action, MatrixRow, effective_safety, risk_score, row_for
from hee_monitor.action.fixes.strategies.interface import FixPlan, Safety
from hee_monitor.core.models import Finding, Severity


class Verdict(enum.StrEnum):
    APPLY = "apply"
    APPROVAL = "approval"
    SKIP = "skip"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    risk: int
    safety: Safety
    row: MatrixRow


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def capsule_block(
    payload: Mapping[str, Any] | None, severity: Severity, now: datetime
) -> str | None:
    """Why the capsule's constraints forbid an automatic fix now, or None."""
    if not payload:
        return None
    state = payload.get("monitoring_state") or {}
    if state.get("current_status") == "maintenance":
        return "the repository is in maintenance (capsule current_status)"
    constraints = payload.get("constraints") or {}
    if constraints.get("frozen"):
        return "the repository is frozen (capsule constraints)"
    limit = constraints.get("max_fix_severity")
    if limit:
        try:
            if severity.rank > Severity(limit).rank:
                return f"severity {severity.value} is above the capsule's max_fix_severity {limit}"
        except ValueError:
            return f"the capsule's max_fix_severity {limit!r} is not a severity"
    for window in constraints.get("maintenance_windows") or []:
        try:
            start, end = parse_time(window["start"]), parse_time(window["end"])
        except (KeyError, TypeError, ValueError):
            return "the capsule has a malformed maintenance window; refusing to guess"
        if start <= now < end:
            reason = window.get("reason") or "no reason given"
            return f"inside a maintenance window until {window['end']} ({reason})"
    return None


def protected_paths(config: FixConfig, payload: Mapping[str, Any] | None) -> tuple[str, ...]:
    from_capsule = ((payload or {}).get("constraints") or {}).get("protected_paths") or []
    return tuple(config.protected_paths) + tuple(str(p) for p in from_capsule)


def touches_protected(paths: tuple[str, ...] | list[str], protected: tuple[str, ...]) -> list[str]:
    return [p for p in paths if matches(p, protected)]


def decide(
    finding: Finding,
    plan: FixPlan,
    *,
    config: FixConfig,
    payload: Mapping[str, Any] | None,
    now: datetime,
    max_severity: Severity | None = None,
    min_safety: Safety | None = None,
    repository_protected: bool = False,
    approved: bool = False,
) -> Decision:
    row = row_for(finding.category)
    risk = risk_score(plan.risk, finding.risk, row)
    safety = effective_safety(plan.safety, row)

    def verdict(v: Verdict, reason: str) -> Decision:
        return Decision(v, reason, risk, safety, row)

    if repository_protected or config.protected:
        return verdict(Verdict.SKIP, "the repository is protected: never changed automatically")
    blocked = capsule_block(payload, finding.severity, now)
    if blocked:
        return verdict(Verdict.SKIP, blocked)
    if max_severity is not None and finding.severity.rank > max_severity.rank:
        return verdict(
            Verdict.SKIP,
            f"severity {finding.severity.value} is above --max-severity {max_severity.value}",
        )
    hit = touches_protected(
        [f for f in plan.files if not any(c in f for c in "*?[")], protected_paths(config, payload)
    )
    if hit:
        return verdict(Verdict.SKIP, "the fix would change protected path(s): " + ", ".join(hit))
    if min_safety is not None and safety.rank < min_safety.rank:
        return verdict(
            Verdict.SKIP, f"{safety.value}-safety fix; only {min_safety.value}-safety fixes run"
        )
    if not approved:
        if row.action is Action.MANUAL_ONLY:
            return verdict(Verdict.APPROVAL, f"{row.kind} are fixed only with a person's approval")
        if risk > config.risk_threshold:
            return verdict(
                Verdict.APPROVAL, f"risk {risk} is above the threshold {config.risk_threshold}"
            )
    if approved:
        return verdict(Verdict.APPLY, f"approved by a person (risk {risk})")
    return verdict(Verdict.APPLY, f"{row.action.value}: risk {risk} ≤ {config.risk_threshold}")
