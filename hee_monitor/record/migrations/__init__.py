"""Alembic migrations of the store; run by :func:`hee_monitor.record.db.open_engine`."""
