from __future__ import annotations

from hee_monitor.core.models import Alert, Severity
from hee_monitor.decision.mute import mute_reason


def reason(severity: Severity, *, kind: str = "failure", maintenance: bool = False) -> str | None:
    alert = Alert("octo/app", severity, "t", "b", "fp", kind=kind)
    return mute_reason(
        alert, maintenance=maintenance, alert_level=Severity.MEDIUM, deliverable=True
    )


def test_mute_reasons() -> None:
    assert reason(Severity.HIGH, maintenance=True) == "maintenance"
    assert reason(Severity.LOW) == "below alert level medium"
    assert reason(Severity.LOW, kind="approval") is None  # somebody has to answer it
    assert reason(Severity.HIGH) is None
    alert = Alert("octo/app", Severity.HIGH, "t", "b", "fp")
    silent = mute_reason(alert, maintenance=False, alert_level=Severity.LOW, deliverable=False)
    assert silent == "no notifier configured"
