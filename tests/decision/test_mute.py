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


def test_router_mute_reason_maintenance_and_silences() -> None:
    from datetime import UTC, datetime, timedelta

    from hee_monitor.core.models import HealthState
    from hee_monitor.decision.mute import Silence, router_mute_reason

    now = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
    alert = Alert("octo/app", Severity.HIGH, "t", "b", "fp-1", pattern_id="PY-TEST")
    silence = Silence(
        "s1",
        "octo/*",
        "PY-*",
        (Severity.HIGH,),
        "flaky week",
        "alice",
        now,
        now + timedelta(hours=1),
    )
    maintenance = router_mute_reason(alert, HealthState.MAINTENANCE, [], now)
    assert maintenance == "muted: the pipeline is in maintenance"
    silenced = router_mute_reason(alert, HealthState.DEGRADED, [silence], now)
    assert silenced == f"silenced by s1 until {silence.expires_at.isoformat()} (flaky week)"
    later = now + timedelta(hours=2)
    assert router_mute_reason(alert, HealthState.DEGRADED, [silence], later) is None
