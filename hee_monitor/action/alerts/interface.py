"""The notifier port: how the rest of hee-monitor hands an alert on.

The monitoring cycle and approval escalation both talk to a :class:`Notifier`; the alert
router behind it (:class:`~hee_monitor.action.alerts.AlertRouter`, adapted by
``hee_monitor.service.notify.RouterNotifier``) routes, groups, dedupes and delivers through
its channels (:class:`~hee_monitor.action.alerts.channels.Channel`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from hee_monitor.core.models import Alert


class Notifier(Protocol):
    """Takes an alert; what it returns (how it was taken: queued, grouped, deduped, muted,
    printed) is for the record only. ``flush`` (once a cycle) sends what is due: grouped
    alerts whose wait is over, retries."""

    def notify(self, alert: Alert, now: datetime) -> str: ...

    def flush(self, now: datetime) -> None: ...

    def recovered(self, repo: str, now: datetime) -> None:
        """The pipeline is healthy again: tell those who were told of its failures."""
        ...
