"""Muting: whether an alert the policy asked for is sent, or only recorded as muted.

Two places ask: the cycle's alert effect (maintenance, the configured alert level, no
notifier) and the alert router's first stage (maintenance, silences). Both decisions are
made here; silences themselves are stored by ``action.alerts.silences.SilenceStore``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

from hee_monitor.core.models import Alert, HealthState, Severity


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


@dataclass(frozen=True)
class Silence:
    id: str
    repo: str
    pattern: str
    severities: tuple[Severity, ...]
    comment: str
    created_by: str
    created_at: datetime
    expires_at: datetime

    def active(self, now: datetime) -> bool:
        return self.created_at <= now < self.expires_at

    def matches(self, alert: Alert, now: datetime) -> bool:
        if not self.active(now):
            return False
        if not fnmatchcase(alert.repo, self.repo):
            return False
        if self.severities and alert.severity not in self.severities:
            return False
        subjects = [alert.fingerprint] + ([alert.pattern_id] if alert.pattern_id else [])
        return any(fnmatchcase(s, self.pattern) for s in subjects)


def router_mute_reason(
    alert: Alert, state: HealthState, silences: Iterable[Silence], now: datetime
) -> str | None:
    """Why the alert router must not send ``alert`` now, or None. Pure: silences and state
    come in."""
    if state is HealthState.MAINTENANCE:
        return "muted: the pipeline is in maintenance"
    for silence in silences:
        if silence.matches(alert, now):
            return f"silenced by {silence.id} until {silence.expires_at.isoformat()}" + (
                f" ({silence.comment})" if silence.comment else ""
            )
    return None
