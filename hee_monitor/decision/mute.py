"""Muting: whether an alert the policy asked for is sent, or only recorded as muted."""

from __future__ import annotations

from hee_monitor.core.models import Alert, Severity


def mute_reason(
    alert: Alert, *, maintenance: bool, alert_level: Severity, deliverable: bool
) -> str | None:
    """Why ``alert`` is recorded as muted instead of sent, or None to send it.

    In maintenance nothing is sent; an alert below the configured level is muted (an
    approval request never is: somebody has to answer it); without a notifier there is
    nobody to send to.
    """
    if maintenance:
        return "maintenance"
    if not alert.severity.at_least(alert_level) and alert.kind != "approval":
        return f"below alert level {alert_level.value}"
    if not deliverable:
        return "no notifier configured"
    return None
