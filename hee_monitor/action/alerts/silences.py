"""Silences and maintenance muting: the first stage of the pipeline.

A silence matches alerts by repository glob, pattern glob (over the alert's pattern id and
fingerprint) and severities, until it expires. Silences live in the audit store, so the
``hee-monitor silence`` command and the running monitor see the same ones.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.action.alerts._sql import store_error, transaction
from hee_monitor.core.errors import UsageError
from hee_monitor.core.models import Alert, HealthState, Severity
from hee_monitor.decision.mute import Silence as Silence  # the value and its matching
from hee_monitor.decision.mute import router_mute_reason
from hee_monitor.record.schema import alert_silences as silences_table


@dataclass(frozen=True)
class AlertMuted:
    """A normal outcome: the alert was not sent, and why."""

    reason: str


def mute(
    alert: Alert, state: HealthState, silences: Iterable[Silence], now: datetime
) -> AlertMuted | None:
    """Why ``alert`` must not be sent now, or None (decided by :mod:`hee_monitor.decision.mute`)."""
    why = router_mute_reason(alert, state, silences, now)
    return AlertMuted(why) if why is not None else None


def parse_severities(values: Sequence[str]) -> tuple[Severity, ...]:
    result = []
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            try:
                result.append(Severity(part.strip().lower()))
            except ValueError:
                raise UsageError(
                    f"unknown severity {part.strip()!r}",
                    hint="use one of: " + ", ".join(s.value for s in Severity),
                ) from None
    return tuple(dict.fromkeys(result))


class SilenceStore:
    def __init__(
        self, engine: Engine, *, new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:12]
    ) -> None:
        self._engine = engine
        self._new_id = new_id

    def add(
        self,
        *,
        now: datetime,
        expires_at: datetime,
        repo: str = "*",
        pattern: str = "*",
        severities: Sequence[Severity] = (),
        comment: str = "",
        created_by: str = "",
    ) -> Silence:
        if expires_at <= now:
            raise UsageError(
                "a silence must expire in the future", hint="give --expires a positive duration"
            )
        silence = Silence(
            id=self._new_id(),
            repo=repo or "*",
            pattern=pattern or "*",
            severities=tuple(severities),
            comment=comment,
            created_by=created_by,
            created_at=now,
            expires_at=expires_at,
        )
        with transaction(self._engine, "write a silence") as conn:
            conn.execute(
                silences_table.insert().values(
                    id=silence.id,
                    repo=silence.repo,
                    pattern=silence.pattern,
                    severities=",".join(s.value for s in silence.severities),
                    comment=silence.comment,
                    created_by=silence.created_by,
                    created_at=silence.created_at,
                    expires_at=silence.expires_at,
                )
            )
        return silence

    def entries(self, now: datetime, *, include_expired: bool = False) -> list[Silence]:
        query = select(silences_table).order_by(silences_table.c.expires_at)
        if not include_expired:
            query = query.where(silences_table.c.expires_at > now)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise store_error("read silences", exc) from None
        return [
            Silence(
                id=r["id"],
                repo=r["repo"],
                pattern=r["pattern"],
                severities=parse_severities([r["severities"]]),
                comment=r["comment"],
                created_by=r["created_by"],
                created_at=r["created_at"],
                expires_at=r["expires_at"],
            )
            for r in rows
        ]

    def active(self, now: datetime) -> list[Silence]:
        return [s for s in self.entries(now) if s.active(now)]

    def expire(self, silence_id: str, now: datetime) -> Silence:
        """End a silence now (kept in the store, for the record)."""
        matches = [s for s in self.entries(now, include_expired=True) if s.id == silence_id]
        if not matches:
            raise UsageError(
                f"no silence with id {silence_id!r}",
                hint="hee-monitor silence list --all shows every id",
            )
        silence = matches[0]
        if silence.expires_at <= now:
            return silence
        with transaction(self._engine, "write a silence") as conn:
            conn.execute(
                update(silences_table)
                .where(silences_table.c.id == silence_id)
                .values(expires_at=now)
            )
        return dataclasses.replace(silence, expires_at=now)
