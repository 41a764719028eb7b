"""The fix engine's side of the fix gate: a planned fix and the repository's fix settings,
handed to :func:`hee_monitor.decision.fix_gate.gate` (where the decision is made)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hee_monitor.action.fixes.config import FixConfig
from hee_monitor.action.fixes.strategies.interface import FixPlan
from hee_monitor.core.models import Finding, Severity
from hee_monitor.decision.fix_gate import (
    GateDecision,
    GateSettings,
    PlannedFix,
    Verdict,
    capsule_block,
    gate,
    touches_protected,
)
from hee_monitor.decision.risk import Safety

__all__ = ["Verdict", "capsule_block", "decide", "protected_paths", "touches_protected"]


def protected_paths(config: FixConfig, payload: Mapping[str, Any] | None) -> tuple[str, ...]:
    from_capsule = ((payload or {}).get("constraints") or {}).get("protected_paths") or []
    return tuple(config.protected_paths) + tuple(str(p) for p in from_capsule)


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
) -> GateDecision:
    settings = GateSettings(
        risk_threshold=config.risk_threshold,
        protected=repository_protected or config.protected,
        protected_paths=protected_paths(config, payload),
        max_severity=max_severity,
        min_safety=min_safety,
    )
    planned = PlannedFix(plan.risk, plan.safety, tuple(plan.files))
    return gate(finding, planned, settings, payload=payload, now=now, approved=approved)
