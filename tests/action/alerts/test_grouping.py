from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from hee_monitor.action.alerts.grouping import GroupStore, NotificationLog
from hee_monitor.core.models import Alert, Severity
from hee_monitor.record.db import open_engine
from hee_monitor.record.schema import alert_groups as groups_table

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


def test_a_group_held_by_dedupe_stays_held_unless_severity_rises(engine: Engine) -> None:
    groups = GroupStore(engine)
    group = groups.add(_alert(Severity.HIGH, "x"), now=T0, wait=timedelta(0))
    hold = T0 + timedelta(hours=4)
    groups.postpone(group, hold)
    again = groups.add(_alert(Severity.HIGH, "x"), now=T0, wait=timedelta(0))
    assert (again.due_at, again.held, again.count) == (hold, True, 2)
    raised = groups.add(_alert(Severity.CRITICAL, "x"), now=T0, wait=timedelta(0))
    assert (raised.due_at, raised.held) == (T0, False)


def test_a_store_from_before_hold_until_is_upgraded_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as conn:
        columns = ", ".join(
            f"{c.name} {'TEXT' if c.name != 'count' else 'INTEGER'}"
            for c in groups_table.columns
            if c.name != "hold_until"
        )
        conn.execute(text(f"CREATE TABLE alert_groups ({columns})"))
    groups = GroupStore(open_engine(url))
    group = groups.add(_alert(Severity.HIGH, "x"), now=T0, wait=timedelta(0))
    groups.postpone(group, T0 + timedelta(hours=1))
    assert groups.open()[0].hold_until == T0 + timedelta(hours=1)


def test_a_due_group_is_claimed_once_and_a_changed_group_not_at_all(engine: Engine) -> None:
    mine, theirs = GroupStore(engine), GroupStore(engine)
    mine.add(_alert(Severity.HIGH, "a", fp="a"), now=T0, wait=timedelta(0))
    mine.add(_alert(Severity.HIGH, "b", fp="b"), now=T0, wait=timedelta(0))
    lease = timedelta(minutes=10)
    a, b = sorted(mine.due(T0), key=lambda g: g.fingerprint)
    assert [g.fingerprint for g in theirs.due(T0)] == ["a", "b"]
    assert mine.claim(a, now=T0, lease=lease)
    assert not theirs.claim(a, now=T0, lease=lease)  # read before the claim: stale
    assert [g.fingerprint for g in theirs.due(T0)] == ["b"]
    # an alert joins b after it was read: the claim fails and the next read has the count
    theirs.add(_alert(Severity.HIGH, "b again", fp="b"), now=T0, wait=timedelta(0))
    assert not mine.claim(b, now=T0, lease=lease)
    [fresh] = mine.due(T0)
    assert fresh.count == 2 and mine.claim(fresh, now=T0, lease=lease)
    # claimed groups come back when the lease ends (their sender died)
    assert {g.fingerprint for g in theirs.due(T0 + lease)} == {"a", "b"}


def test_settling_a_sent_group_keeps_alerts_that_arrived_meanwhile(engine: Engine) -> None:
    groups = GroupStore(engine)
    groups.add(_alert(Severity.HIGH, "x"), now=T0, wait=timedelta(0))
    [sent] = groups.due(T0)
    groups.add(_alert(Severity.HIGH, "x"), now=T0, wait=timedelta(0))
    groups.add(_alert(Severity.HIGH, "x"), now=T0, wait=timedelta(0))
    groups.settle(sent)
    [left] = groups.open()
    assert left.count == 2
    groups.settle(left)
    assert groups.open() == []
