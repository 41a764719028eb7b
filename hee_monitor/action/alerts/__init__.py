"""The alert router: the escalation matrix, grouping, dedupe, silences, a durable outbox,
and delivery through apprise channels. Start at :class:`AlertRouter`."""

from hee_monitor.action.alerts.pipeline import (
    AlertDeduped,
    AlertGrouped,
    AlertQueued,
    AlertRouter,
    DeliveryResult,
    RouterSettings,
    RoutingResult,
)
from hee_monitor.action.alerts.silences import AlertMuted

__all__ = [
    "AlertDeduped",
    "AlertGrouped",
    "AlertMuted",
    "AlertQueued",
    "AlertRouter",
    "DeliveryResult",
    "RouterSettings",
    "RoutingResult",
]
