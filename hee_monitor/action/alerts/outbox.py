"""The durable outbox: every notification is a row before it is sent.

A row is delivered by :meth:`Outbox.due` / :meth:`Outbox.mark_delivered`; a failed
delivery is rescheduled with exponential backoff (``next_attempt_at``) and survives a
restart of the monitor. ``last_error`` is scrubbed of secrets before it is stored.

Several processes may flush one outbox (two monitors on one database, a monitor and
``hee-monitor serve``): a sender first *claims* a row (:meth:`Outbox.claim`, one atomic
compare-and-set on the row), so no row is sent by two of them. A claim is a lease: a
sender killed while delivering leaves the row to be claimed again when the lease ends, so
nothing is lost (at-least-once, never twice while the sender lives).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.action.alerts._sql import store_error, transaction
from hee_monitor.action.alerts.channels import Message
from hee_monitor.core.models import Severity
from hee_monitor.record.schema import alert_outbox as outbox_table


@dataclass(frozen=True)
class OutboxRow:
    id: int
    channel: str
    message: Message
    detected_at: datetime
    attempts: int


#: how long a claimed row is left to its sender; longer than any in-process delivery
#: (tries x (wait + channel timeout)), so a live sender never loses its row to another
DELIVERY_LEASE = timedelta(minutes=10)


def backoff(failures: int, base: timedelta, cap: timedelta) -> timedelta:
    """Wait before the next delivery round after ``failures`` failed rounds (≥ 1)."""
    if base <= timedelta(0):
        return timedelta(0)
    # Compare in seconds first: base * 2**n overflows timedelta long before n is absurd.
    exponent = max(0, failures - 1)
    if exponent >= 64 or base.total_seconds() * 2**exponent >= cap.total_seconds():
        return cap
    wait: timedelta = base * 2**exponent
    return wait


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def enqueue(
        self, channel: str, message: Message, *, detected_at: datetime, now: datetime
    ) -> int:
        with transaction(self._engine, "queue an alert") as conn:
            result = conn.execute(
                outbox_table.insert().values(
                    channel=channel,
                    repo=message.repo,
                    fingerprint=message.fingerprint,
                    severity=message.severity.value,
                    kind=message.kind,
                    title=message.title,
                    body=message.body,
                    url=message.url,
                    count=message.count,
                    detected_at=detected_at,
                    enqueued_at=now,
                    next_attempt_at=now,
                    attempts=0,
                    status="pending",
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def due(self, now: datetime) -> list[OutboxRow]:
        query = (
            select(outbox_table)
            .where(outbox_table.c.status == "pending", outbox_table.c.next_attempt_at <= now)
            .order_by(outbox_table.c.next_attempt_at, outbox_table.c.id)
        )
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise store_error("read the alert outbox", exc) from None
        return [
            OutboxRow(
                id=r["id"],
                channel=r["channel"],
                message=Message(
                    repo=r["repo"],
                    fingerprint=r["fingerprint"],
                    severity=Severity(r["severity"]),
                    title=r["title"],
                    body=r["body"],
                    kind=r["kind"],
                    count=r["count"],
                    url=r["url"],
                ),
                detected_at=r["detected_at"],
                attempts=r["attempts"],
            )
            for r in rows
        ]

    def claim(self, row_id: int, *, now: datetime, lease: timedelta = DELIVERY_LEASE) -> bool:
        """Take row ``row_id`` for delivery at ``now``; False when another sender has it
        (or it is no longer due). The row is not due again before ``now + lease``."""
        with transaction(self._engine, "claim an alert for delivery") as conn:
            result = conn.execute(
                update(outbox_table)
                .where(
                    outbox_table.c.id == row_id,
                    outbox_table.c.status == "pending",
                    outbox_table.c.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + lease)
            )
            return bool(result.rowcount == 1)

    def mark_delivered(self, row_id: int, *, attempts: int, at: datetime) -> None:
        self._update(row_id, status="delivered", attempts=attempts, delivered_at=at)

    def reschedule(self, row_id: int, *, attempts: int, error: str, at: datetime) -> None:
        self._update(row_id, attempts=attempts, last_error=error, next_attempt_at=at)

    def mark_dead(self, row_id: int, *, attempts: int, error: str) -> None:
        self._update(row_id, status="dead", attempts=attempts, last_error=error)

    def _update(self, row_id: int, **values: object) -> None:
        with transaction(self._engine, "update the alert outbox") as conn:
            conn.execute(update(outbox_table).where(outbox_table.c.id == row_id).values(**values))

    def counts(self) -> dict[str, int]:
        """Rows per status: pending, delivered, dead."""
        query = select(outbox_table.c.status, func.count()).group_by(outbox_table.c.status)
        try:
            with self._engine.connect() as conn:
                return {status: int(n) for status, n in conn.execute(query).all()}
        except SQLAlchemyError as exc:
            raise store_error("read the alert outbox", exc) from None
