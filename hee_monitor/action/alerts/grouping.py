"""Grouping and the notification log.

Alerts with the same repository and fingerprint fall into one open group that carries a
count; the group is due after its severity's group wait. The notification log remembers,
per (repository, fingerprint), when and at what severity people were last told, which is
what the dedupe decision needs, and which channels to send the resolved notice to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    delete,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.action.alerts._sql import store_error, transaction
from hee_monitor.action.alerts.dedupe import LastNotification
from hee_monitor.core.models import Alert, Severity
from hee_monitor.record.schema import alert_groups as groups_table
from hee_monitor.record.schema import alert_notifications as notifications_table


@dataclass(frozen=True)
class Group:
    """Alerts of one (repository, fingerprint) waiting to be told, with their count."""

    repo: str
    fingerprint: str
    severity: Severity
    kind: str
    title: str
    body: str
    pattern_id: str | None
    url: str | None
    count: int
    first_seen: datetime
    detected_at: datetime
    due_at: datetime
    hold_until: datetime | None = None

    @property
    def held(self) -> bool:
        """Held back by dedupe (people were told within the repeat interval)."""
        return self.hold_until is not None and self.due_at <= self.hold_until

    def as_alert(self) -> Alert:
        return Alert(
            repo=self.repo,
            severity=self.severity,
            title=self.title,
            body=self.body,
            fingerprint=self.fingerprint,
            kind=self.kind,
            pattern_id=self.pattern_id,
            url=self.url,
            created_at=self.detected_at,
            count=self.count,
        )


def _group(r: object) -> Group:
    m = dict(r)  # type: ignore[call-overload]
    m["severity"] = Severity(m["severity"])
    return Group(**m)


class GroupStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, alert: Alert, *, now: datetime, wait: timedelta) -> Group:
        """Put ``alert`` into its open group (creating it); returns the group after."""
        detected = alert.created_at or now
        key = (groups_table.c.repo == alert.repo) & (
            groups_table.c.fingerprint == alert.fingerprint
        )
        with transaction(self._engine, "group an alert") as conn:
            row = conn.execute(select(groups_table).where(key)).mappings().first()
            if row is None:
                values = {
                    "repo": alert.repo,
                    "fingerprint": alert.fingerprint,
                    "severity": alert.severity.value,
                    "kind": alert.kind,
                    "title": alert.title,
                    "body": alert.body,
                    "pattern_id": alert.pattern_id,
                    "url": alert.url,
                    "count": alert.count,
                    "first_seen": now,
                    "detected_at": detected,
                    "due_at": now + wait,
                    "hold_until": None,
                }
                conn.execute(groups_table.insert().values(**values))
                return _group(values)
            group = _group(row)
            raised = alert.severity.rank > group.severity.rank
            # A group held back by dedupe stays held (so a burst costs no dedupe lookups)
            # unless the severity rose, which is news at once.
            hold = None if raised else group.hold_until
            due = min(group.due_at, now + wait)
            if hold is not None:
                due = max(due, hold)
            values = {
                "count": group.count + alert.count,
                "detected_at": min(group.detected_at, detected),
                "due_at": due,
                "hold_until": hold,
                # The latest words describe the failure best, unless a milder alert would
                # overwrite a more severe one.
                "title": alert.title if alert.severity.rank >= group.severity.rank else group.title,
                "body": alert.body if alert.severity.rank >= group.severity.rank else group.body,
                "severity": (alert.severity if raised else group.severity).value,
            }
            conn.execute(update(groups_table).where(key).values(**values))
            return _group({**row, **values})

    def due(self, now: datetime) -> list[Group]:
        return self._select(groups_table.c.due_at <= now)

    def open(self) -> list[Group]:
        return self._select(None)

    def _select(self, where: object) -> list[Group]:
        query = select(groups_table).order_by(groups_table.c.due_at)
        if where is not None:
            query = query.where(where)  # type: ignore[arg-type]
        try:
            with self._engine.connect() as conn:
                return [_group(r) for r in conn.execute(query).mappings().all()]
        except SQLAlchemyError as exc:
            raise store_error("read alert groups", exc) from None

    def claim(self, group: Group, *, now: datetime, lease: timedelta) -> bool:
        """Take ``group`` (as read by :meth:`due`) for sending at ``now``; False when
        another process took it first or alerts were added since it was read (the next
        flush sees the new count). Not due again before ``now + lease``."""
        with transaction(self._engine, "claim an alert group") as conn:
            result = conn.execute(
                update(groups_table)
                .where(
                    (groups_table.c.repo == group.repo)
                    & (groups_table.c.fingerprint == group.fingerprint)
                    & (groups_table.c.due_at == group.due_at)
                    & (groups_table.c.count == group.count)
                )
                .values(due_at=now + lease)
            )
            return bool(result.rowcount == 1)

    def settle(self, group: Group) -> None:
        """``group`` was sent: close it, keeping alerts that arrived since it was read
        (their count stays, to be sent when the group is due again)."""
        key = (groups_table.c.repo == group.repo) & (
            groups_table.c.fingerprint == group.fingerprint
        )
        with transaction(self._engine, "close an alert group") as conn:
            gone = conn.execute(
                delete(groups_table).where(key & (groups_table.c.count == group.count))
            )
            if gone.rowcount == 0:
                conn.execute(
                    update(groups_table)
                    .where(key & (groups_table.c.count > group.count))
                    .values(count=groups_table.c.count - group.count)
                )

    def postpone(self, group: Group, until: datetime) -> None:
        with transaction(self._engine, "postpone an alert group") as conn:
            conn.execute(
                update(groups_table)
                .where(
                    (groups_table.c.repo == group.repo)
                    & (groups_table.c.fingerprint == group.fingerprint)
                )
                .values(due_at=until, hold_until=until)
            )

    def close(self, repo: str, fingerprint: str) -> None:
        with transaction(self._engine, "close an alert group") as conn:
            conn.execute(
                delete(groups_table).where(
                    (groups_table.c.repo == repo) & (groups_table.c.fingerprint == fingerprint)
                )
            )


class NotificationLog:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def last(
        self, repo: str, fingerprint: str
    ) -> tuple[LastNotification, tuple[str, ...], str] | None:
        """The last notification, the channels it went to and its title."""
        query = select(notifications_table).where(
            (notifications_table.c.repo == repo)
            & (notifications_table.c.fingerprint == fingerprint)
        )
        try:
            with self._engine.connect() as conn:
                row = conn.execute(query).mappings().first()
        except SQLAlchemyError as exc:
            raise store_error("read the notification log", exc) from None
        if row is None:
            return None
        channels = tuple(c for c in row["channels"].split(",") if c)
        last = LastNotification(row["at"], Severity(row["severity"]), row["resolved"])
        return last, channels, row["title"]

    def unresolved(self, repo: str) -> list[str]:
        """Fingerprints of ``repo`` people were told about and not told are resolved."""
        query = (
            select(notifications_table.c.fingerprint)
            .where(
                (notifications_table.c.repo == repo) & (notifications_table.c.resolved.is_(False))
            )
            .order_by(notifications_table.c.fingerprint)
        )
        try:
            with self._engine.connect() as conn:
                return [str(f) for f in conn.execute(query).scalars()]
        except SQLAlchemyError as exc:
            raise store_error("read the notification log", exc) from None

    def record(
        self,
        repo: str,
        fingerprint: str,
        *,
        at: datetime,
        severity: Severity,
        channels: tuple[str, ...],
        title: str,
        resolved: bool = False,
    ) -> None:
        key = (notifications_table.c.repo == repo) & (
            notifications_table.c.fingerprint == fingerprint
        )
        values = {
            "at": at,
            "severity": severity.value,
            "resolved": resolved,
            "channels": ",".join(channels),
            "title": title,
        }
        with transaction(self._engine, "record a notification") as conn:
            done = conn.execute(update(notifications_table).where(key).values(**values))
            if done.rowcount == 0:
                conn.execute(
                    notifications_table.insert().values(
                        repo=repo, fingerprint=fingerprint, **values
                    )
                )
