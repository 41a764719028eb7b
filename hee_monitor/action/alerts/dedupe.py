"""Whether a group of alerts is due to be told again: a pure function of the last
notification, ``now`` and the repeat interval, returning its reason (as Alertmanager's
dedup stage does)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from hee_monitor.core.models import Severity


@dataclass(frozen=True)
class LastNotification:
    """What was last told about one (repository, fingerprint)."""

    at: datetime
    severity: Severity
    resolved: bool = False


class DedupeReason(enum.StrEnum):
    FIRST = "first notification"
    REPEAT_DUE = "repeat interval elapsed"
    SEVERITY_RAISED = "severity raised since the last notification"
    REFIRED = "fired again after it was resolved"
    WITHIN_REPEAT = "already notified within the repeat interval"


@dataclass(frozen=True)
class DedupeDecision:
    send: bool
    reason: DedupeReason
    #: when not sending: the earliest time a notification is due
    next_due: datetime | None = None


def dedupe(
    last: LastNotification | None,
    now: datetime,
    repeat_interval: timedelta,
    severity: Severity,
) -> DedupeDecision:
    if last is None:
        return DedupeDecision(True, DedupeReason.FIRST)
    if last.resolved:
        return DedupeDecision(True, DedupeReason.REFIRED)
    if severity.rank > last.severity.rank:
        return DedupeDecision(True, DedupeReason.SEVERITY_RAISED)
    due = last.at + repeat_interval
    if now >= due:
        return DedupeDecision(True, DedupeReason.REPEAT_DUE)
    return DedupeDecision(False, DedupeReason.WITHIN_REPEAT, due)
