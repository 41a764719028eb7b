"""The alert router as the cycle's notifier: submit each alert with the pipeline's state,
flush what is due once per cycle, send resolved notices on recovery."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hee_monitor.action.alerts import AlertMuted, AlertRouter
from hee_monitor.core.models import Alert, HealthState


class RouterNotifier:
    def __init__(self, router: AlertRouter, state: Callable[[], HealthState]) -> None:
        self.router = router
        self._state = state

    def notify(self, alert: Alert, now: datetime) -> str:
        """Returns how the router took it: queued, grouped, deduped or muted."""
        result = self.router.submit(alert, state=self._state(), now=now)
        if isinstance(result.outcome, AlertMuted):
            return "muted"
        return type(result.outcome).__name__.removeprefix("Alert").lower()

    def flush(self, now: datetime) -> None:
        self.router.flush(now)

    def notified_since(self, repo: str, fingerprint: str, since: datetime) -> bool:
        """Reconciliation of a queued alert after a crash: routed already?"""
        return self.router.notified_since(repo, fingerprint, since)

    def recovered(self, repo: str, now: datetime) -> None:
        self.router.recovered(repo, now)
