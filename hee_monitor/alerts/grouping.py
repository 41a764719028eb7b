"""Grouping and the notification log.

Alerts with the same repository and fingerprint fall into one open group that carries a
count; the group is due after its severity's group wait. The notification log remembers,
per (repository, fingerprint), when and at what severity people were last told, which is
what the dedupe decision needs, and which channels to send the resolved notice to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Column, Integer, String, Table, Text, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.alerts._sql import UTCDateTime, store_error, transaction
from hee_monitor.alerts.dedupe import LastNotification
from hee_monitor.models import Alert, Severity
from hee_monitor.store.db import metadata

groups_table = Table(
    "alert_groups",
    metadata,
    Column("repo", String(300), primary_key=True),
    Column("fingerprint", String(300), primary_key=True),
    Column("severity", String(20), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("pattern_id", String(200), nullable=True),
    Column("url", Text, nullable=True),
    Column("count", Integer, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
)

notifications_table = Table(
    "alert_notifications",
    metadata,
    Column("repo", String(300), primary_key=True),
    Column("fingerprint", String(300), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("severity", String(20), nullable=False),
    Column("resolved", Boolean, nullable=False),
    Column("channels", Text, nullable=False),
    Column("title", Text, nullable=False, default=""),
)


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
                }
                conn.execute(groups_table.insert().values(**values))
                return _group(values)
            group = _group(row)
            raised = alert.severity.rank > group.severity.rank
            values = {
                "count": group.count + alert.count,
                "detected_at": min(group.detected_at, detected),
                "due_at": min(group.due_at, now + wait),
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

    def postpone(self, group: Group, until: datetime) -> None:
        with transaction(self._engine, "postpone an alert group") as conn:
            conn.execute(
                update(groups_table)
                .where(
                    (groups_table.c.repo == group.repo)
                    & (groups_table.c.fingerprint == group.fingerprint)
                )
                .values(due_at=until)
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
