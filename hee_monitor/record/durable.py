"""Tables of the durable flow: side effects as intents, runs waiting for their logs.

* ``effect_intents`` is the transactional outbox of every side effect the monitor decides
  (a re-run request, an alert, an escalation, a fix hand-over). A row is written in the same
  transaction as the decision that causes it and performed later by the effect worker
  (:mod:`hee_monitor.service.effects`), which marks it done only once the remote side
  confirmed it. ``key`` is the effect's idempotency key: deciding twice cannot queue twice.
* ``pending_runs`` holds failed runs that could not be understood yet (a log that could not
  be read or broke off, a truncated answer): they are retried with backoff on later cycles
  and diagnosed from metadata, saying the log was unreadable, once their wait is over.

Both are declared in :mod:`hee_monitor.record.schema` with every other table (a change of
their shape goes with a migration in :mod:`hee_monitor.record.migrations`).
"""

from __future__ import annotations

from hee_monitor.record.schema import effect_intents, pending_runs

__all__ = ["effect_intents", "pending_runs"]
