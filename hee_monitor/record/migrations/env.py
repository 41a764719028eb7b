"""Alembic environment: migrations run on the connection the store opened, never from an
``alembic.ini`` (see :func:`hee_monitor.record.db.upgrade`)."""

from __future__ import annotations

from alembic import context

from hee_monitor.record.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the store runs these migrations
    raise RuntimeError("the store's migrations run through hee_monitor.record.db.upgrade")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters a table by copying it: batch mode does that for us
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
