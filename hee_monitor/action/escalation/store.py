"""Which failure fingerprints are tracked, how often they occurred, and their GitHub issue.

One row per (repository, fingerprint) in ``escalation_issues`` on the shared audit store.
``occurrences`` counts every failed run the fingerprint was seen in; ``reported`` is the
count the issue last showed, so an update is owed while ``occurrences > reported``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    and_,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.core.errors import StoreError
from hee_monitor.record.schema import escalation_issues


@dataclass(frozen=True)
class Tracked:
    repo: str
    fingerprint: str
    pattern_id: str
    title: str
    occurrences: int
    reported: int
    first_seen: datetime
    last_seen: datetime
    latest: dict[str, Any]
    issue_number: int | None = None
    issue_url: str | None = None
    issue_state: str | None = None
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    @property
    def open_issue(self) -> bool:
        return self.issue_number is not None and self.issue_state == "open"


def _naive(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _row(row: Any) -> Tracked:
    first, last = _aware(row.first_seen), _aware(row.last_seen)
    assert first is not None and last is not None
    return Tracked(
        repo=row.repo,
        fingerprint=row.fingerprint,
        pattern_id=row.pattern_id,
        title=row.title,
        occurrences=row.occurrences,
        reported=row.reported,
        first_seen=first,
        last_seen=last,
        latest=json.loads(row.latest or "{}"),
        issue_number=row.issue_number,
        issue_url=row.issue_url,
        issue_state=row.issue_state,
        opened_at=_aware(row.opened_at),
        closed_at=_aware(row.closed_at),
    )


class EscalationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(
                f"the escalation table failed ({type(exc).__name__})",
                hint="check that the audit database is reachable and writable",
            ) from None

    def get(self, repo: str, fingerprint: str) -> Tracked | None:
        with self._tx() as conn:
            row = conn.execute(
                select(escalation_issues).where(
                    and_(
                        escalation_issues.c.repo == repo,
                        escalation_issues.c.fingerprint == fingerprint,
                    )
                )
            ).first()
        return _row(row) if row is not None else None

    def seen(
        self,
        repo: str,
        fingerprint: str,
        *,
        pattern_id: str,
        title: str,
        latest: dict[str, Any],
        now: datetime,
    ) -> Tracked:
        """Count one more occurrence (a failure that stopped and came back starts over)."""
        current = self.get(repo, fingerprint)
        with self._tx() as conn:
            if current is None:
                conn.execute(
                    insert(escalation_issues).values(
                        repo=repo,
                        fingerprint=fingerprint,
                        pattern_id=pattern_id,
                        title=title,
                        occurrences=1,
                        reported=0,
                        first_seen=_naive(now),
                        last_seen=_naive(now),
                        latest=json.dumps(latest, default=str),
                    )
                )
            else:
                values: dict[str, Any] = {
                    "occurrences": current.occurrences + 1,
                    "last_seen": _naive(now),
                    "latest": json.dumps(latest, default=str),
                    "title": title,
                }
                if (
                    current.issue_state == "closed"
                    and current.closed_at is not None
                    and current.last_seen <= current.closed_at
                ):
                    # it came back: a new episode, counted from here (the issue is reopened)
                    values.update(occurrences=1, reported=0, first_seen=_naive(now))
                conn.execute(
                    update(escalation_issues)
                    .where(
                        and_(
                            escalation_issues.c.repo == repo,
                            escalation_issues.c.fingerprint == fingerprint,
                        )
                    )
                    .values(**values)
                )
        tracked = self.get(repo, fingerprint)
        assert tracked is not None
        return tracked

    def set_issue(
        self,
        repo: str,
        fingerprint: str,
        *,
        number: int | None = None,
        url: str | None = None,
        state: str | None = None,
        reported: int | None = None,
        now: datetime,
    ) -> None:
        values: dict[str, Any] = {}
        if number is not None:
            values.update(issue_number=number, issue_url=url)
        if state is not None:
            values["issue_state"] = state
            if state == "open":
                values.update(opened_at=_naive(now), closed_at=None)
            else:
                values["closed_at"] = _naive(now)
        if reported is not None:
            values["reported"] = reported
        with self._tx() as conn:
            conn.execute(
                update(escalation_issues)
                .where(
                    and_(
                        escalation_issues.c.repo == repo,
                        escalation_issues.c.fingerprint == fingerprint,
                    )
                )
                .values(**values)
            )

    def all(self, *, repo: str | None = None) -> list[Tracked]:
        query = select(escalation_issues).order_by(escalation_issues.c.id)
        if repo is not None:
            query = query.where(escalation_issues.c.repo == repo)
        with self._tx() as conn:
            return [_row(r) for r in conn.execute(query)]
