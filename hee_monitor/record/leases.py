"""Work leases: several instances on one database share work, each unit done once.

An instance *claims* a unit of work (``kind`` = what sort, ``key`` = which one: a run's
key, a repository to poll, an effect's id) for a time to live; while the lease holds,
nobody else gets it. The holder *renews* it while working, *completes* it when done (a
completed unit is never claimed again) or *releases* it (someone else may take it). An
instance that dies simply stops renewing: its leases expire and another instance takes
the work over. Completing is fenced: it succeeds only while the caller still holds the
lease, and it can join the caller's own transaction, so "record the result" and "mark the
unit done" commit together or not at all — which is what makes a unit done exactly once
even when a slow holder loses its lease to another instance.

PostgreSQL (several instances): :meth:`Leases.claim_some` takes free units with
``SELECT … FOR UPDATE SKIP LOCKED``, so instances never wait on each other's rows. SQLite
(one process, or a few on one host): the same through one conditional ``UPDATE``, atomic
because SQLite has a single writer.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from hee_monitor.core.errors import StoreError
from hee_monitor.record.schema import work_leases

__all__ = ["DEFAULT_TTL", "Leases", "instance_id"]

#: how long a claim holds without renewal (an instance that died frees its work after this)
DEFAULT_TTL = timedelta(minutes=5)
#: the epoch stands for "free": a unit offered but not claimed
_FREE = datetime(1970, 1, 1, tzinfo=UTC)


def instance_id() -> str:
    """A name for this instance that is unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    """Claims on units of work in the store at ``engine``, held by ``owner``."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str | None = None,
        ttl: timedelta = DEFAULT_TTL,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("a lease's time to live must be positive")
        self.engine = engine
        self.owner = owner or instance_id()
        self.ttl = ttl
        self._now = now

    @contextmanager
    def _tx(self, what: str) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            # the message may quote the URL (and its password): the type only
            raise StoreError(
                f"cannot {what} in the store ({type(exc).__name__})",
                hint="check --database / HEE_DATABASE_URL and that the database is reachable",
            ) from None

    def _insert(self, conn: Connection) -> postgresql.Insert | sqlite.Insert:
        if conn.dialect.name == "postgresql":
            return postgresql.insert(work_leases)
        return sqlite.insert(work_leases)

    # -- one unit ------------------------------------------------------------------------

    def claim(self, kind: str, key: str, *, ttl: timedelta | None = None) -> bool:
        """Take ``key`` unless another owner holds an unexpired lease on it or it is done.
        Claiming again what one already holds renews it. One atomic statement."""
        now = self._now()
        expires = now + (ttl or self.ttl)
        with self._tx("claim work") as conn:
            stmt = self._insert(conn).values(
                kind=kind, key=key, owner=self.owner, claimed_at=now, expires_at=expires
            )
            lease = work_leases.c
            stmt = stmt.on_conflict_do_update(
                index_elements=[lease.kind, lease.key],
                set_={"owner": self.owner, "claimed_at": now, "expires_at": expires},
                where=and_(
                    lease.done_at.is_(None),
                    or_(lease.expires_at <= now, lease.owner == self.owner),
                ),
            )
            # RETURNING: an insert's rowcount is not reported by every driver
            return conn.execute(stmt.returning(lease.key)).first() is not None

    def renew(self, kind: str, key: str, *, ttl: timedelta | None = None) -> bool:
        """Extend a lease this owner still holds; False when it was lost (expired and
        taken by another instance) or completed."""
        now = self._now()
        with self._tx("renew a lease") as conn:
            result = conn.execute(
                update(work_leases)
                .where(self._held(kind, key, now))
                .values(expires_at=now + (ttl or self.ttl))
            )
            return bool(result.rowcount == 1)

    def release(self, kind: str, key: str) -> None:
        """Give ``key`` back unfinished: any instance may claim it at once."""
        with self._tx("release a lease") as conn:
            conn.execute(
                update(work_leases)
                .where(
                    and_(
                        work_leases.c.kind == kind,
                        work_leases.c.key == key,
                        work_leases.c.owner == self.owner,
                        work_leases.c.done_at.is_(None),
                    )
                )
                .values(expires_at=_FREE)
            )

    def complete(self, kind: str, key: str, *, conn: Connection | None = None) -> bool:
        """Mark ``key`` done if this owner still holds it (fencing): True when marked.
        With ``conn``, within the caller's transaction: write the result in the same
        transaction and roll it back when this returns False."""
        now = self._now()
        stmt = update(work_leases).where(self._held(kind, key, now)).values(done_at=now)
        if conn is not None:
            return bool(conn.execute(stmt).rowcount == 1)
        with self._tx("complete work") as own:
            return bool(own.execute(stmt).rowcount == 1)

    def _held(self, kind: str, key: str, now: datetime) -> ColumnElement[bool]:
        c = work_leases.c
        return and_(
            c.kind == kind,
            c.key == key,
            c.owner == self.owner,
            c.done_at.is_(None),
            c.expires_at > now,
        )

    # -- many units ----------------------------------------------------------------------

    def offer(self, kind: str, keys: Sequence[str]) -> None:
        """Make ``keys`` known as work (free until claimed); known keys are left alone."""
        if not keys:
            return
        rows = [
            {"kind": kind, "key": k, "owner": "", "claimed_at": _FREE, "expires_at": _FREE}
            for k in dict.fromkeys(keys)
        ]
        with self._tx("offer work") as conn:
            conn.execute(self._insert(conn).on_conflict_do_nothing(), rows)

    def claim_some(self, kind: str, limit: int, keys: Sequence[str] | None = None) -> list[str]:
        """Claim up to ``limit`` free units of ``kind`` (among ``keys`` when given): never
        done, and unclaimed or with an expired lease. Rows another instance is claiming
        at this moment are skipped, not waited for."""
        now = self._now()
        c = work_leases.c
        free = and_(c.kind == kind, c.done_at.is_(None), c.expires_at <= now)
        if keys is not None:
            free = and_(free, c.key.in_(list(keys)))
        with self._tx("claim work") as conn:
            pick = select(c.key).where(free).order_by(c.expires_at, c.key).limit(limit)
            if conn.dialect.name == "postgresql":
                taken = list(conn.execute(pick.with_for_update(skip_locked=True)).scalars())
                if not taken:
                    return []
                conn.execute(
                    update(work_leases)
                    .where(and_(c.kind == kind, c.key.in_(taken)))
                    .values(owner=self.owner, claimed_at=now, expires_at=now + self.ttl)
                )
                return [str(k) for k in taken]
            # SQLite has one writer: a single UPDATE picks and takes atomically
            result = conn.execute(
                update(work_leases)
                .where(and_(c.kind == kind, c.key.in_(pick.scalar_subquery()), free))
                .values(owner=self.owner, claimed_at=now, expires_at=now + self.ttl)
                .returning(c.key)
            )
            return [str(k) for k in result.scalars()]

    def pending(self, kind: str) -> int:
        """Units of ``kind`` not done yet (held or free)."""
        with self._tx("count work") as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(work_leases)
                    .where(and_(work_leases.c.kind == kind, work_leases.c.done_at.is_(None)))
                ).scalar_one()
            )

    def forget_done(self, kind: str, before: datetime) -> int:
        """Drop completed units of ``kind`` done before ``before``; returns how many."""
        with self._tx("prune work") as conn:
            result = conn.execute(
                delete(work_leases).where(
                    and_(
                        work_leases.c.kind == kind,
                        work_leases.c.done_at.is_not(None),
                        work_leases.c.done_at < before,
                    )
                )
            )
            return int(result.rowcount)
