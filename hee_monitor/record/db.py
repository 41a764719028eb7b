"""One SQLAlchemy ``MetaData`` for the whole audit store.

Every component that keeps rows (audit log, alert outbox, fix attempts, job durations)
declares its tables on :data:`metadata` in its own module; :func:`open_engine` creates all
tables that have been declared. SQLite file by default; any SQLAlchemy URL works.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.core.config import default_database
from hee_monitor.core.errors import StoreError

__all__ = ["default_database", "metadata", "open_engine"]

metadata = MetaData()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # WAL lets a reader (hee-monitor metrics) work while the monitor writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_engine(url: str | None = None, *, read_only: bool = False) -> Engine:
    """Open the store at ``url`` (default: :func:`default_database`, in the user's state
    directory) and create any missing table.

    ``read_only``: for commands that only show what is stored. A SQLite file that does not
    exist is then not created: an empty store in memory stands in (every query finds
    nothing), so looking never leaves a file behind. The URL may hold a password; it is
    never part of an error message.
    """
    url = url or default_database()
    file = url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:")
    if read_only and file and not Path(url.removeprefix("sqlite:///")).exists():
        return open_engine("sqlite://")
    if file:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot open the audit store ({type(exc).__name__})",
            hint="check --database / HEE_DATABASE_URL and that the database is reachable",
        ) from None
    return engine


def __getattr__(name: str) -> str:
    # DEFAULT_DATABASE depends on the environment: read when asked, not at import
    if name == "DEFAULT_DATABASE":
        return default_database()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
