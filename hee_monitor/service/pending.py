"""Runs that are not understood yet: "waiting for log".

A failed run whose log could not be read (download failed or broke off) or whose API answer
was truncated or malformed is not done: it is *held* here with its reason and retried on
later cycles with backoff. While held, its key is in the processed-runs register with the
status ``pending`` (so the poll does not hand it out again and ``seen`` is true); recording
the run replaces that row. Once its wait is over (``log_wait``) the cycle diagnoses it from
its metadata with a finding that says the log was unreadable.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hee_monitor.core.errors import StoreError
from hee_monitor.record.durable import pending_runs
from hee_monitor.record.schema import processed_runs


@dataclass(frozen=True)
class Held:
    key: str
    repo: str
    run_id: int
    run_attempt: int
    reason: str
    first_seen: datetime
    tries: int
    next_attempt_at: datetime


def _held(row: object) -> Held:
    return Held(
        key=str(row.key),  # type: ignore[attr-defined]
        repo=str(row.repo),  # type: ignore[attr-defined]
        run_id=int(row.run_id),  # type: ignore[attr-defined]
        run_attempt=int(row.run_attempt),  # type: ignore[attr-defined]
        reason=str(row.reason),  # type: ignore[attr-defined]
        first_seen=row.first_seen,  # type: ignore[attr-defined]
        tries=int(row.tries),  # type: ignore[attr-defined]
        next_attempt_at=row.next_attempt_at,  # type: ignore[attr-defined]
    )


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None) if at.tzinfo else at


class PendingRuns:
    def __init__(
        self,
        engine: Engine,
        *,
        base: timedelta = timedelta(seconds=30),
        cap: timedelta = timedelta(minutes=5),
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(
                f"the pending runs table failed ({type(exc).__name__})",
                hint="check that the audit database is reachable and writable",
            ) from None

    def backoff(self, tries: int) -> timedelta:
        seconds = min(
            self.base.total_seconds() * 2 ** min(max(tries - 1, 0), 30), self.cap.total_seconds()
        )
        return timedelta(seconds=seconds * self._rng.uniform(0.5, 1.0))

    def hold(
        self, key: str, repo: str, run_id: int, attempt: int, reason: str, *, now: datetime
    ) -> Held:
        """Hold (or hold again) a run; returns it with its next try's time."""
        with self._tx() as conn:
            row = conn.execute(select(pending_runs).where(pending_runs.c.key == key)).first()
            if row is None:
                tries = 1
                conn.execute(
                    insert(pending_runs).values(
                        key=key,
                        repo=repo,
                        run_id=run_id,
                        run_attempt=attempt,
                        reason=reason[:1000],
                        first_seen=now,
                        tries=tries,
                        next_attempt_at=now + self.backoff(tries),
                    )
                )
            else:
                tries = int(row.tries) + 1
                conn.execute(
                    update(pending_runs)
                    .where(pending_runs.c.key == key)
                    .values(
                        reason=reason[:1000],
                        tries=tries,
                        next_attempt_at=now + self.backoff(tries),
                    )
                )
            seen = conn.execute(
                select(processed_runs.c.key).where(processed_runs.c.key == key)
            ).first()
            if seen is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(processed_runs).values(
                                key=key,
                                repo=repo,
                                run_id=run_id,
                                run_attempt=attempt,
                                status="pending",
                                reason=reason[:1000],
                                processed_at=_naive(now),
                            )
                        )
                except IntegrityError:
                    pass
            held = conn.execute(select(pending_runs).where(pending_runs.c.key == key)).one()
        return _held(held)

    @staticmethod
    def release(conn: Connection, key: str) -> None:
        """Forget a held run inside the transaction that records it."""
        conn.execute(delete(pending_runs).where(pending_runs.c.key == key))

    def forget(self, key: str) -> None:
        with self._tx() as conn:
            self.release(conn, key)
            conn.execute(
                delete(processed_runs).where(
                    and_(processed_runs.c.key == key, processed_runs.c.status == "pending")
                )
            )

    def get(self, key: str) -> Held | None:
        with self._tx() as conn:
            row = conn.execute(select(pending_runs).where(pending_runs.c.key == key)).first()
        return None if row is None else _held(row)

    def all(self, *, repo: str | None = None) -> list[Held]:
        q = select(pending_runs).order_by(pending_runs.c.next_attempt_at, pending_runs.c.key)
        if repo:
            q = q.where(pending_runs.c.repo == repo)
        with self._tx() as conn:
            return [_held(r) for r in conn.execute(q).all()]

    def due(self, now: datetime) -> list[Held]:
        return [h for h in self.all() if h.next_attempt_at <= now]

    def wake(self, repo: str, now: datetime) -> int:
        """Make every run of ``repo`` due now (its logs became readable again)."""
        with self._tx() as conn:
            result = conn.execute(
                update(pending_runs)
                .where(and_(pending_runs.c.repo == repo, pending_runs.c.next_attempt_at > now))
                .values(next_attempt_at=now)
            )
            return int(result.rowcount or 0)
