"""The fix engine's rows in the audit store: attempts, approval requests, audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.core.errors import StoreError
from hee_monitor.record.db import metadata

fix_attempts = Table(
    "fix_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(128), nullable=False, index=True),
    Column("pattern_id", String(128), nullable=False),
    Column("strategy", String(64), nullable=False),
    Column("repository", String(256)),
    Column("run_id", String(64)),
    Column("started", DateTime(timezone=True), nullable=False),
    Column("outcome", String(32)),  # applied | rolled-back | crashed (set by recovery)
    Column("detail", Text),
)

fix_approvals = Table(
    "fix_approvals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),  # pending|approved|rejected|executed
    Column("escalated", DateTime(timezone=True)),
    Column("repository", String(256)),
    Column("repo_path", Text),
    Column("run_id", String(64)),
    Column("pattern_id", String(128), nullable=False),
    Column("strategy", String(64), nullable=False),
    Column("fingerprint", String(128), nullable=False, index=True),
    Column("severity", String(16), nullable=False),
    Column("risk", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("plan_json", Text, nullable=False),
    Column("finding_json", Text, nullable=False),
    Column("decided_by", String(128)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_reason", Text),
)

fix_audit = Table(
    "fix_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("detail", Text),
)


def _translate(exc: SQLAlchemyError) -> StoreError:
    return StoreError(
        f"the audit store failed ({type(exc).__name__})",
        hint="check the database URL and that the database is writable",
    )


def audit(engine: Engine, at: datetime, actor: str, action: str, subject: str, detail: str) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(fix_audit).values(
                    at=at, actor=actor, action=action, subject=subject, detail=detail
                )
            )
    except SQLAlchemyError as exc:
        raise _translate(exc) from None


def audit_events(engine: Engine, subject: str | None = None) -> list[dict[str, Any]]:
    query = select(fix_audit).order_by(fix_audit.c.id)
    if subject is not None:
        query = query.where(fix_audit.c.subject == subject)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
    except SQLAlchemyError as exc:
        raise _translate(exc) from None


def count_attempts(engine: Engine, fingerprint: str) -> int:
    try:
        with engine.connect() as conn:
            value = conn.execute(
                select(func.count())
                .select_from(fix_attempts)
                .where(fix_attempts.c.fingerprint == fingerprint)
            ).scalar_one()
    except SQLAlchemyError as exc:
        raise _translate(exc) from None
    return int(value)


def start_attempt(
    engine: Engine,
    *,
    fingerprint: str,
    pattern_id: str,
    strategy: str,
    repository: str | None,
    run_id: str | None,
    started: datetime,
) -> int:
    try:
        with engine.begin() as conn:
            result = conn.execute(
                insert(fix_attempts).values(
                    fingerprint=fingerprint,
                    pattern_id=pattern_id,
                    strategy=strategy,
                    repository=repository,
                    run_id=run_id,
                    started=started,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])
    except SQLAlchemyError as exc:
        raise _translate(exc) from None


def finish_attempt(engine: Engine, attempt_id: int, outcome: str, detail: str) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(
                fix_attempts.update()
                .where(fix_attempts.c.id == attempt_id)
                .values(outcome=outcome, detail=detail[:4000])
            )
    except SQLAlchemyError as exc:
        raise _translate(exc) from None
