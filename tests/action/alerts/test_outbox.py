from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from hee_monitor.action.alerts.channels import Message
from hee_monitor.action.alerts.outbox import Outbox, backoff
from hee_monitor.core.models import Severity

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
BASE, CAP = timedelta(seconds=30), timedelta(hours=1)


def test_backoff_doubles_up_to_the_cap() -> None:
    waits = [backoff(n, BASE, CAP).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


@given(st.integers(1, 200))
def test_backoff_is_monotonic_and_bounded(failures: int) -> None:
    assert BASE <= backoff(failures, BASE, CAP) <= CAP
    assert backoff(failures, BASE, CAP) <= backoff(failures + 1, BASE, CAP)


def test_rows_are_due_in_order_and_leave_when_delivered_or_dead(engine: Engine) -> None:
    outbox = Outbox(engine)
    message = Message("acme/api", "fp", Severity.HIGH, "t", "b", count=4)
    a = outbox.enqueue("email", message, detected_at=T0, now=T0)
    b = outbox.enqueue("slack", message, detected_at=T0, now=T0 + timedelta(seconds=1))
    c = outbox.enqueue("sms", message, detected_at=T0, now=T0 + timedelta(seconds=2))
    assert [r.id for r in outbox.due(T0)] == [a]
    due = outbox.due(T0 + timedelta(seconds=5))
    assert [r.id for r in due] == [a, b, c]
    assert due[0].message == message and due[0].detected_at == T0
    outbox.mark_delivered(a, attempts=1, at=T0)
    outbox.reschedule(b, attempts=1, error="boom", at=T0 + timedelta(minutes=1))
    outbox.mark_dead(c, attempts=1, error="403")
    assert outbox.due(T0 + timedelta(seconds=59)) == []
    [again] = outbox.due(T0 + timedelta(minutes=1))
    assert (again.id, again.attempts) == (b, 1)
    assert outbox.counts() == {"delivered": 1, "pending": 1, "dead": 1}


def test_a_row_is_claimed_by_one_sender_and_freed_when_its_lease_ends(
    engine: Engine, tmp_path: object
) -> None:
    """Two flushers on one database (two Outbox objects, as in two processes)."""
    first, second = Outbox(engine), Outbox(engine)
    message = Message("acme/api", "fp", Severity.HIGH, "t", "b")
    row = first.enqueue("email", message, detected_at=T0, now=T0)
    lease = timedelta(minutes=10)
    assert first.claim(row, now=T0, lease=lease)
    assert not second.claim(row, now=T0, lease=lease)
    assert second.due(T0 + timedelta(minutes=9)) == []
    # the first sender died without a word: the row is due again, nothing is lost
    [again] = second.due(T0 + lease)
    assert second.claim(again.id, now=T0 + lease, lease=lease)
    second.mark_delivered(again.id, attempts=1, at=T0 + lease)
    assert not first.claim(row, now=T0 + 2 * lease, lease=lease)
    assert first.counts() == {"delivered": 1}
