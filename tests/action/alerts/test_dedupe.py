from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.action.alerts.dedupe import DedupeReason, LastNotification, dedupe
from hee_monitor.core.models import Severity

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REPEAT = timedelta(hours=4)


def test_first_notification_is_sent() -> None:
    assert dedupe(None, T0, REPEAT, Severity.LOW).reason is DedupeReason.FIRST


def test_within_the_repeat_interval_is_held_until_it_ends() -> None:
    last = LastNotification(T0, Severity.HIGH)
    decision = dedupe(last, T0 + timedelta(hours=1), REPEAT, Severity.HIGH)
    assert not decision.send
    assert decision.reason is DedupeReason.WITHIN_REPEAT
    assert decision.next_due == T0 + REPEAT


def test_repeat_due_exactly_at_the_interval() -> None:
    last = LastNotification(T0, Severity.HIGH)
    assert dedupe(last, T0 + REPEAT, REPEAT, Severity.HIGH).reason is DedupeReason.REPEAT_DUE


def test_raised_severity_and_refire_after_resolve_are_sent_at_once() -> None:
    now = T0 + timedelta(minutes=1)
    raised = dedupe(LastNotification(T0, Severity.MEDIUM), now, REPEAT, Severity.CRITICAL)
    assert raised.send and raised.reason is DedupeReason.SEVERITY_RAISED
    lowered = dedupe(LastNotification(T0, Severity.CRITICAL), now, REPEAT, Severity.LOW)
    assert not lowered.send
    refired = dedupe(LastNotification(T0, Severity.LOW, resolved=True), now, REPEAT, Severity.LOW)
    assert refired.send and refired.reason is DedupeReason.REFIRED


@given(
    offset=st.integers(min_value=0, max_value=10 * 24 * 3600),
    repeat=st.integers(min_value=1, max_value=24 * 3600),
    severity=st.sampled_from(list(Severity)),
)
def test_send_iff_the_interval_has_passed_for_the_same_severity(
    offset: int, repeat: int, severity: Severity
) -> None:
    last = LastNotification(T0, severity)
    decision = dedupe(last, T0 + timedelta(seconds=offset), timedelta(seconds=repeat), severity)
    assert decision.send == (offset >= repeat)
    if not decision.send:
        assert decision.next_due == T0 + timedelta(seconds=repeat)
