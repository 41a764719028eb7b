"""The fix gate: may this planned fix run now, alone, or only with a person's approval?

A pure function of its inputs and ``now``, scored with the one risk model of
:mod:`hee_monitor.decision.risk` and compared with the same threshold the policy uses. The
fix engine asks it after planning a fix (and again checks the changed paths after applying).
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hee_monitor.core.models import Finding, Severity
from hee_monitor.decision.risk import (
    DEFAULT_RISK_THRESHOLD,
    FixMode,
    MatrixRow,
    Safety,
    effective_safety,
    risk_score,
    row_for,
)


class Verdict(enum.StrEnum):
    APPLY = "apply"
    APPROVAL = "approval"
    SKIP = "skip"


@dataclass(frozen=True)
class GateDecision:
    verdict: Verdict
    reason: str
    risk: int
    safety: Safety
    row: MatrixRow


@dataclass(frozen=True)
class PlannedFix:
    """What the gate needs of a planned fix."""

    risk: int
    safety: Safety
    #: the paths (or globs) the fix says it may change
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class GateSettings:
    """The repository's fix settings and the command line's limits."""

    risk_threshold: int = DEFAULT_RISK_THRESHOLD
    protected: bool = False
    protected_paths: tuple[str, ...] = ()
    max_severity: Severity | None = None
    min_safety: Safety | None = None


def matches(path: str, patterns: Sequence[str]) -> bool:
    """Glob match where ``**/`` also matches the top directory (``**/*.py`` matches ``a.py``)."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(path, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:]):
            return True
        if pattern.endswith("/**") and path.startswith(pattern[:-3] + "/"):
            return True
    return False


def touches_protected(paths: Sequence[str], protected: Sequence[str]) -> list[str]:
    return [p for p in paths if matches(p, protected)]


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
    return _severity_block(constraints.get("max_fix_severity"), severity) or _window_block(
        constraints.get("maintenance_windows") or [], now
    )


def _severity_block(limit: Any, severity: Severity) -> str | None:
    if not limit:
        return None
    try:
        if severity.rank > Severity(limit).rank:
            return f"severity {severity.value} is above the capsule's max_fix_severity {limit}"
    except ValueError:
        return f"the capsule's max_fix_severity {limit!r} is not a severity"
    return None


def _window_block(windows: Sequence[Any], now: datetime) -> str | None:
    for window in windows:
        try:
            start, end = parse_time(window["start"]), parse_time(window["end"])
        except (KeyError, TypeError, ValueError):
            return "the capsule has a malformed maintenance window; refusing to guess"
        if start <= now < end:
            reason = window.get("reason") or "no reason given"
            return f"inside a maintenance window until {window['end']} ({reason})"
    return None


def _skip_reason(
    finding: Finding,
    plan: PlannedFix,
    settings: GateSettings,
    safety: Safety,
    payload: Mapping[str, Any] | None,
    now: datetime,
) -> str | None:
    if settings.protected:
        return "the repository is protected: never changed automatically"
    blocked = capsule_block(payload, finding.severity, now)
    if blocked:
        return blocked
    limit = settings.max_severity
    if limit is not None and finding.severity.rank > limit.rank:
        return f"severity {finding.severity.value} is above --max-severity {limit.value}"
    literal = [f for f in plan.files if not any(c in f for c in "*?[")]
    hit = touches_protected(literal, settings.protected_paths)
    if hit:
        return "the fix would change protected path(s): " + ", ".join(hit)
    if settings.min_safety is not None and safety.rank < settings.min_safety.rank:
        return f"{safety.value}-safety fix; only {settings.min_safety.value}-safety fixes run"
    return None


def gate(
    finding: Finding,
    plan: PlannedFix,
    settings: GateSettings,
    *,
    payload: Mapping[str, Any] | None,
    now: datetime,
    approved: bool = False,
) -> GateDecision:
    row = row_for(finding.category)
    risk = risk_score(plan.risk, finding.risk, row)
    safety = effective_safety(plan.safety, row)

    def verdict(v: Verdict, reason: str) -> GateDecision:
        return GateDecision(v, reason, risk, safety, row)

    skip = _skip_reason(finding, plan, settings, safety, payload, now)
    if skip is not None:
        return verdict(Verdict.SKIP, skip)
    if approved:
        return verdict(Verdict.APPLY, f"approved by a person (risk {risk})")
    if row.mode is FixMode.MANUAL_ONLY:
        return verdict(Verdict.APPROVAL, f"{row.kind} are fixed only with a person's approval")
    if risk > settings.risk_threshold:
        return verdict(
            Verdict.APPROVAL, f"risk {risk} is above the threshold {settings.risk_threshold}"
        )
    return verdict(Verdict.APPLY, f"{row.mode.value}: risk {risk} ≤ {settings.risk_threshold}")
