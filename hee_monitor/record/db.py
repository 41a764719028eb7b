"""Opening the store: an SQLAlchemy engine on a database brought up to the current schema.

Every table is declared in :mod:`hee_monitor.record.schema`; the Alembic migrations shipped
in :mod:`hee_monitor.record.migrations` build a fresh store and upgrade an older one
(including stores made before migrations existed, which have no ``alembic_version``
table). Opening runs them under a lock, so any number of processes may open a fresh
database at once: one migrates, the others wait and find it done. SQLite file by default
(one process); any SQLAlchemy URL works, PostgreSQL for several instances.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from hee_monitor.core.config import default_database
from hee_monitor.core.errors import StoreError
from hee_monitor.record.schema import metadata

__all__ = ["default_database", "head_revision", "metadata", "open_engine", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
#: pg_advisory_xact_lock key held while migrating ("hee-migr" in ASCII)
_PG_MIGRATION_LOCK = 0x6865_652D_6D69_6772
#: how long an opener waits for another one's migration before giving up
LOCK_TIMEOUT_SECONDS = 120.0


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # wait for another writer first: switching to WAL needs a moment alone with the file
    cursor.execute("PRAGMA busy_timeout=10000")
    # WAL lets a reader (hee-monitor metrics) work while the monitor writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    """The newest migration shipped with this version."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the store at ``engine`` is at (None: fresh, or made before migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """SQLite: a lock file beside the database (SQLite's own locks do not span Alembic's
    separate statements). In-memory databases belong to one process: no lock."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with FileLock(f"{database}.lock", timeout=LOCK_TIMEOUT_SECONDS):
        yield


def upgrade(engine: Engine) -> None:
    """Bring the store at ``engine`` to the newest schema; safe to call from many processes
    at once. Nothing happens when it is already there (one cheap query)."""
    if current_revision(engine) == head_revision():
        return
    with _file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # DDL is transactional on PostgreSQL: the lock and the migration are one
            # transaction, and a second opener waits here, then finds the work done
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        if MigrationContext.configure(conn).get_current_revision() == head_revision():
            return
        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def open_engine(url: str | None = None, *, read_only: bool = False) -> Engine:
    """Open the store at ``url`` (default: :func:`default_database`, in the user's state
    directory), creating or upgrading its schema.

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
        upgrade(engine)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot open the audit store ({type(exc).__name__})",
            hint="check --database / HEE_DATABASE_URL and that the database is reachable",
        ) from None
    except TimeoutError:
        raise StoreError(
            "cannot open the audit store: another process has been upgrading it for "
            f"over {LOCK_TIMEOUT_SECONDS:.0f} s",
            hint="wait for it to finish, or remove a stale .lock file beside the database",
        ) from None
    return engine


def __getattr__(name: str) -> str:
    # DEFAULT_DATABASE depends on the environment: read when asked, not at import
    if name == "DEFAULT_DATABASE":
        return default_database()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
