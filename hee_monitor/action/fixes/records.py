"""The fix engine's rows in the audit store: attempts, approval requests, audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.core.errors import StoreError
from hee_monitor.record.schema import fix_attempts, fix_audit


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
