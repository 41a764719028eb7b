"""Errors and transactions shared by the alert stores (their tables and time type are in
:mod:`hee_monitor.record.schema`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.core.errors import StoreError


def store_error(what: str, exc: SQLAlchemyError) -> StoreError:
    # The exception text may quote the database URL (and its password): name the type only.
    return StoreError(
        f"cannot {what} in the audit store ({type(exc).__name__})",
        hint="check --database / HEE_DATABASE_URL and that the database is reachable",
    )


@contextmanager
def transaction(engine: Engine, what: str) -> Iterator[Connection]:
    try:
        with engine.begin() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise store_error(what, exc) from None
