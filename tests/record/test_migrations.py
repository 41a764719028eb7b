"""The migrations build the schema the code declares, upgrade stores made by the code
before migrations existed, and let any number of processes open a fresh store at once."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    create_engine,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Engine

from hee_monitor.record import schema
from hee_monitor.record.db import current_revision, head_revision, open_engine
from hee_monitor.record.schema import UTCDateTime

OPENERS = 60


def test_every_table_is_declared_in_the_schema_module() -> None:
    import hee_monitor.action.alerts.grouping
    import hee_monitor.analysis.llm_cache  # noqa: F401

    # 23 before migrations, the work leases, the effect intents, the pending runs and the
    # last-green baselines
    assert len(schema.metadata.tables) == 27


def test_migrations_build_exactly_the_declared_schema(store_url: str) -> None:
    engine = open_engine(store_url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata
        )
    assert diff == []


def _old_store(url: str) -> None:
    """A store as the code before migrations made it with ``create_all``: naive
    ``DateTime`` columns, 32-bit ids, alert groups without ``hold_until``, rows in it."""
    old = MetaData()
    for table in schema.metadata.sorted_tables:
        if table.name in ("work_leases", "effect_intents", "pending_runs", "baseline_templates"):
            continue
        copy = table.to_metadata(old)
        for c in copy.columns:
            if isinstance(c.type, UTCDateTime):
                c.type = DateTime()
            elif isinstance(c.type, BigInteger):
                c.type = Integer()
    engine = create_engine(url)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE alert_groups DROP COLUMN hold_until"))
        conn.execute(
            insert(old.tables["audit_processed_runs"]).values(
                key="octo/app#7.1",
                repo="octo/app",
                run_id=7,
                status="processed",
                processed_at=datetime(2026, 5, 1, 12, 30),  # naive UTC, as stored then
            )
        )
        conn.execute(
            insert(old.tables["alert_groups"]).values(
                repo="octo/app",
                fingerprint="fp",
                severity="high",
                kind="failure",
                title="t",
                body="b",
                count=2,
                first_seen=datetime(2026, 5, 1, 12, 0),
                detected_at=datetime(2026, 5, 1, 12, 0),
                due_at=datetime(2026, 5, 1, 12, 5),
            )
        )
    engine.dispose()


def test_a_store_made_before_migrations_is_adopted_and_upgraded(store_url: str) -> None:
    _old_store(store_url)
    engine = open_engine(store_url)
    assert current_revision(engine) == head_revision()
    columns = {c["name"] for c in inspect(engine).get_columns("alert_groups")}
    assert "hold_until" in columns  # what grouping.py used to ALTER TABLE by hand
    with engine.connect() as conn:
        run = conn.execute(select(schema.processed_runs)).one()
        group = conn.execute(select(schema.alert_groups)).one()
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata
        )
    assert run.processed_at == datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    assert group.count == 2 and group.hold_until is None
    assert group.due_at == datetime(2026, 5, 1, 12, 5, tzinfo=UTC)
    # a GitHub-sized run id fits after the upgrade (PostgreSQL's integer did not)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.processed_runs).values(
                key="octo/app#17000000000.1",
                repo="octo/app",
                run_id=17_000_000_000,
                status="processed",
                processed_at=datetime.now(UTC),
            )
        )
    if engine.dialect.name == "sqlite":
        # SQLite's INTEGER already holds 64 bits: the old columns stay as they are there
        diff = [
            d
            for d in diff
            if not (
                isinstance(d, list)
                and d[0][0] == "modify_type"
                and isinstance(d[0][5], Integer)
                and isinstance(d[0][6], BigInteger)
            )
        ]
    assert diff == []


def _open(url: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        open_engine(url).dispose()
    except Exception as exc:  # reported to the test, which names what failed
        results.put(f"{type(exc).__name__}: {exc}")
    else:
        results.put("ok")


@pytest.mark.slow
def test_many_processes_open_a_fresh_store_at_once(store_url: str) -> None:
    """Each process opens the same fresh database at the same moment (a barrier): the
    code before migrations failed 32-36 of 60 here with "table already exists"."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(OPENERS)
    results = context.Queue()
    openers = [
        context.Process(target=_open, args=(store_url, barrier, results)) for _ in range(OPENERS)
    ]
    for p in openers:
        p.start()
    outcomes = [results.get(timeout=300) for _ in openers]
    for p in openers:
        p.join(timeout=60)
    assert [o for o in outcomes if o != "ok"] == []
    assert current_revision(open_engine(store_url)) == head_revision()


zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
instants = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(2999, 12, 30), timezones=zones
)


@pytest.fixture(scope="module")
def sqlite_times() -> Engine:
    return open_engine("sqlite://")


@settings(max_examples=60, deadline=None)
@given(at=instants)
def test_one_time_type_keeps_the_instant_and_gives_it_back_in_utc(
    sqlite_times: Engine, at: datetime
) -> None:
    with sqlite_times.begin() as conn:
        conn.execute(insert(schema.fix_audit).values(at=at, actor="a", action="b", subject="c"))
        back = conn.execute(
            select(schema.fix_audit.c.at).order_by(schema.fix_audit.c.id.desc()).limit(1)
        ).scalar_one()
        # comparisons in the database see the same instant
        found = conn.execute(
            select(schema.fix_audit.c.id).where(schema.fix_audit.c.at == at.astimezone(UTC))
        ).first()
    assert back == at and back.tzinfo == UTC
    assert found is not None


def test_the_time_type_stores_utc_on_each_database(store_url: str) -> None:
    engine = open_engine(store_url)
    paris = timezone(timedelta(hours=2))
    naive = datetime(2026, 7, 1, 10, 0)
    with engine.begin() as conn:
        for at, actor in ((datetime(2026, 7, 1, 12, 0, tzinfo=paris), "x"), (naive, "y")):
            conn.execute(
                insert(schema.fix_audit).values(at=at, actor=actor, action="a", subject="s")
            )
        rows = conn.execute(
            select(schema.fix_audit.c.actor, schema.fix_audit.c.at).order_by(
                schema.fix_audit.c.actor
            )
        ).all()
    expected = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert rows == [("x", expected), ("y", expected)]
