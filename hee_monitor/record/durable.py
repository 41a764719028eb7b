"""Tables of the durable flow: side effects as intents, runs waiting for their logs.

* ``effect_intents`` is the transactional outbox of every side effect the monitor decides
  (a re-run request, an alert, an escalation, a fix hand-over). A row is written in the same
  transaction as the decision that causes it and performed later by the effect worker
  (:mod:`hee_monitor.service.effects`), which marks it done only once the remote side
  confirmed it. ``key`` is the effect's idempotency key: deciding twice cannot queue twice.
* ``pending_runs`` holds failed runs that could not be understood yet (a log that could not
  be read or broke off, a truncated answer): they are retried with backoff on later cycles
  and diagnosed from metadata, saying the log was unreadable, once their wait is over.

Both are declared on the shared :data:`~hee_monitor.record.db.metadata` and use nothing but
their own columns, so they move into a schema module as they are.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from hee_monitor.action.alerts._sql import UTCDateTime
from hee_monitor.record.db import metadata

__all__ = ["effect_intents", "pending_runs"]

effect_intents = Table(
    "effect_intents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: idempotency key, e.g. ``rerun:octo/app#123.1``
    Column("key", String(500), nullable=False, unique=True),
    #: rerun | alert | escalate | fix_handover
    Column("kind", String(30), nullable=False),
    Column("repo", String(300), nullable=False),
    Column("run_key", String(300), nullable=True, index=True),
    Column("payload", Text, nullable=False),  # JSON
    #: pending | done | dead
    Column("status", String(20), nullable=False),
    #: tries started (a try may have reached the remote side before a crash)
    Column("tries", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("done_at", UTCDateTime, nullable=True),
    #: what the remote side answered or how the worker knew it was done
    Column("result", Text, nullable=True),
    Index("ix_effect_intents_due", "status", "next_attempt_at"),
)

pending_runs = Table(
    "pending_runs",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("repo", String(300), nullable=False, index=True),
    Column("run_id", Integer, nullable=False),
    Column("run_attempt", Integer, nullable=False),
    #: why the run is not understood yet (no secret in it)
    Column("reason", Text, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("tries", Integer, nullable=False, default=1),
    Column("next_attempt_at", UTCDateTime, nullable=False),
)
