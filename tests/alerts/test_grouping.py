from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from hee_monitor.alerts.grouping import GroupStore, NotificationLog
from hee_monitor.models import Alert, Severity

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _alert(severity: Severity, title: str, fp: str = "fp", repo: str = "acme/api") -> Alert:
    return Alert(repo, severity, title, f"body of {title}", fingerprint=fp)


def test_same_repo_and_fingerprint_share_a_group_with_a_count(engine: Engine) -> None:
    groups = GroupStore(engine)
    wait = timedelta(minutes=15)
    groups.add(_alert(Severity.MEDIUM, "first"), now=T0, wait=wait)
    groups.add(_alert(Severity.MEDIUM, "other repo", repo="acme/web"), now=T0, wait=wait)
    group = groups.add(_alert(Severity.MEDIUM, "second"), now=T0 + timedelta(minutes=1), wait=wait)
    assert (group.count, group.title, group.due_at) == (2, "second", T0 + wait)
    assert len(groups.open()) == 2


def test_a_more_severe_alert_raises_the_group_and_brings_it_forward(engine: Engine) -> None:
    groups = GroupStore(engine)
    groups.add(_alert(Severity.LOW, "slow"), now=T0, wait=timedelta(hours=1))
    raised = groups.add(_alert(Severity.CRITICAL, "urgent"), now=T0, wait=timedelta(0))
    assert (raised.severity, raised.due_at, raised.title) == (Severity.CRITICAL, T0, "urgent")
    milder = groups.add(_alert(Severity.LOW, "slow again"), now=T0, wait=timedelta(hours=1))
    assert (milder.severity, milder.title, milder.count) == (Severity.CRITICAL, "urgent", 3)
    assert [g.title for g in groups.due(T0)] == ["urgent"]
    groups.close("acme/api", "fp")
    assert groups.open() == []


def test_notification_log_keeps_the_last_notice(engine: Engine) -> None:
    log = NotificationLog(engine)
    assert log.last("acme/api", "fp") is None
    log.record("acme/api", "fp", at=T0, severity=Severity.HIGH, channels=("email",), title="t")
    log.record(
        "acme/api",
        "fp",
        at=T0,
        severity=Severity.HIGH,
        channels=("email",),
        title="t",
        resolved=True,
    )
    found = log.last("acme/api", "fp")
    assert found is not None
    last, channels, title = found
    assert (last.at, last.severity, last.resolved, channels, title) == (
        T0,
        Severity.HIGH,
        True,
        ("email",),
        "t",
    )
