"""Meaning beyond the schema (``validate --hee-rules``): a capsule can match the schema and
still not tell the truth. Each rule returns problems as data, with a JSON pointer.

Rules: a ``failed`` pipeline has an open incident; percentages are within 0-100; histories
are in time order; fixes name known patterns; version fields agree with each other
(``previous_digest`` only from version 2, ``expires`` after ``created``, fixes recorded
against earlier capsule versions, incidents seen after they opened).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from hee_monitor.record.capsule.envelope import parse_time
from hee_monitor.record.capsule.errors import Violation

_PERCENT_GROUPS = (
    ("hee_specific", ("spec_coverage", "prompt_coverage", "decision_stability")),
    ("coverage_metrics", ("line", "branch", "function", "integration", "spec", "prompt")),
)


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = parse_time(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _in_time_order(entries: Any, pointer: str, field: str) -> list[Violation]:
    problems: list[Violation] = []
    if not isinstance(entries, list):
        return problems
    previous: datetime | None = None
    for index, entry in enumerate(entries):
        moment = _time(entry.get(field)) if isinstance(entry, dict) else None
        if moment is None:
            continue
        if previous is not None and moment < previous:
            problems.append(
                Violation(
                    f"{pointer}/{index}/{field}",
                    "time-order",
                    f"earlier than the entry before it ({entries[index - 1].get(field)})",
                )
            )
        previous = moment
    return problems


def check(
    payload: dict[str, Any], known_patterns: Collection[str] | None = None
) -> list[Violation]:
    """Every meaning problem in ``payload``; ``known_patterns`` None skips the pattern rule."""
    problems: list[Violation] = []
    state = payload.get("monitoring_state") or {}
    incidents = payload.get("open_incidents") or []

    if state.get("current_status") == "failed" and not incidents:
        problems.append(
            Violation(
                "/monitoring_state/current_status",
                "failed-needs-incident",
                "status is failed but /open_incidents is empty: say which incident failed it",
            )
        )

    for group, names in _PERCENT_GROUPS:
        values = state.get(group) or {}
        for name in names:
            value = values.get(name) if isinstance(values, dict) else None
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 <= value <= 100)
            ):
                problems.append(
                    Violation(
                        f"/monitoring_state/{group}/{name}", "percent", "must be within 0-100"
                    )
                )

    problems += _in_time_order(payload.get("auto_fix_history"), "/auto_fix_history", "timestamp")
    problems += _in_time_order(payload.get("decision_history"), "/decision_history", "timestamp")

    version = payload.get("version")
    fixes = payload.get("auto_fix_history") or []
    for index, fix in enumerate(fixes if isinstance(fixes, list) else []):
        if not isinstance(fix, dict):
            continue
        pattern = fix.get("pattern_id")
        if (
            known_patterns is not None
            and isinstance(pattern, str)
            and pattern not in known_patterns
        ):
            problems.append(
                Violation(
                    f"/auto_fix_history/{index}/pattern_id",
                    "known-pattern",
                    f"pattern {pattern!r} is not in the pattern database",
                )
            )
        context = fix.get("hee_context")
        at = context.get("state_capsule_version") if isinstance(context, dict) else None
        if isinstance(at, int) and isinstance(version, int) and at >= version:
            problems.append(
                Violation(
                    f"/auto_fix_history/{index}/hee_context/state_capsule_version",
                    "version-order",
                    f"fix recorded against capsule version {at}, not before this version {version}",
                )
            )

    if isinstance(version, int):
        has_previous = payload.get("previous_digest") is not None
        if version == 1 and has_previous:
            problems.append(
                Violation("/previous_digest", "chain-start", "version 1 has no previous version")
            )
        if version > 1 and not has_previous:
            problems.append(
                Violation(
                    "/previous_digest",
                    "chain-link",
                    f"version {version} must name the digest of version {version - 1}",
                )
            )

    created, expires = _time(payload.get("created")), _time(payload.get("expires"))
    if created and expires and expires <= created:
        problems.append(Violation("/expires", "expiry-order", "expires must be after created"))
    since = _time(state.get("status_since"))
    if created and since and since > created:
        problems.append(
            Violation(
                "/monitoring_state/status_since", "time-order", "later than the capsule's created"
            )
        )

    for index, incident in enumerate(incidents if isinstance(incidents, list) else []):
        if not isinstance(incident, dict):
            continue
        opened, seen = _time(incident.get("opened")), _time(incident.get("last_seen"))
        if opened and seen and seen < opened:
            problems.append(
                Violation(f"/open_incidents/{index}/last_seen", "time-order", "earlier than opened")
            )
    ids = (
        [i.get("id") for i in incidents if isinstance(i, dict)]
        if isinstance(incidents, list)
        else []
    )
    for index, ident in enumerate(ids):
        if ident is not None and ids.index(ident) != index:
            problems.append(
                Violation(f"/open_incidents/{index}/id", "unique-id", f"duplicate id {ident!r}")
            )
    return problems
