"""Every table of the store, declared once.

The record stage owns the database: the other stages keep rows through the tables named
here (and the repositories built on them), never by declaring their own. A table's shape
changes only together with a migration in :mod:`hee_monitor.record.migrations`; the
migrations, not :meth:`MetaData.create_all`, build and upgrade a store (see
:func:`hee_monitor.record.db.open_engine`). ``tests/record/test_migrations.py`` checks the
two agree.

Times: every instant is a :class:`UTCDateTime`, timezone-aware UTC in Python on every
backend. Identifiers that come from a forge (run and job ids) are 64-bit: GitHub's run
ids no longer fit in PostgreSQL's ``integer``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "metadata"]


class UTCDateTime(TypeDecorator[datetime]):
    """One time type for the whole store: UTC in, timezone-aware UTC out.

    PostgreSQL keeps ``timestamp with time zone``; SQLite, which has no zones, keeps the
    UTC wall time. A naive datetime given to the store is taken as UTC (every instant the
    monitor handles is); an aware one in another zone is converted. Reading always gives
    an aware UTC datetime, so values from the store compare with ``datetime.now(UTC)``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"the store keeps times as datetimes, not {type(value).__name__}")
        at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return at.replace(tzinfo=None) if dialect.name == "sqlite" else at

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

# -- the audit log: what the monitor saw, decided and did ------------------------------------

#: the register that makes processing exactly-once across restarts and instances
processed_runs = Table(
    "audit_processed_runs",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("repo", String(200), nullable=False, index=True),
    Column("run_id", BigInteger, nullable=True),
    Column("run_attempt", Integer, nullable=True),
    Column("status", String(20), nullable=False),  # processed | skipped
    Column("reason", Text, nullable=True),
    Column("head_sha", String(64), nullable=True),
    Column("run_completed_at", UTCDateTime, nullable=True),
    Column("processed_at", UTCDateTime, nullable=False),
)

diagnoses = Table(
    "audit_diagnoses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_key", String(300), nullable=False, index=True),
    Column("repo", String(200), nullable=False),
    Column("job_id", BigInteger, nullable=False),
    Column("job_name", String(300), nullable=False),
    Column("unexplained", Boolean, nullable=False),
    Column("findings", Integer, nullable=False),
    Column("analysis_seconds", Float, nullable=False),
    #: run completed → diagnosed
    Column("latency_seconds", Float, nullable=True),
    Column("diagnosed_at", UTCDateTime, nullable=False, index=True),
)

findings = Table(
    "audit_findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_key", String(300), nullable=False, index=True),
    Column("repo", String(200), nullable=False),
    Column("job_id", BigInteger, nullable=False),
    Column("pattern_id", String(200), nullable=False),
    Column("category", String(50), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("risk", Integer, nullable=False),
    Column("fingerprint", String(200), nullable=False, index=True),
    Column("transient", Boolean, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("source", String(100), nullable=False),
    Column("fix_strategy", String(200), nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False, index=True),
)

decisions = Table(
    "audit_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_key", String(300), nullable=True, index=True),
    Column("repo", String(200), nullable=False, index=True),
    Column("event", String(30), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False, index=True),
    Column("actions", Text, nullable=False),  # JSON list
    Column("triggers", Text, nullable=False),  # JSON list
    Column("from_state", String(20), nullable=False),
    Column("to_state", String(20), nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list
    Column("rules", Text, nullable=False),  # JSON list
    Column("severity", String(20), nullable=True),
    Column("fingerprint", String(200), nullable=True),
    Column("pattern_id", String(200), nullable=True),
)

transitions = Table(
    "audit_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("trigger", String(50), nullable=False),
    Column("from_state", String(20), nullable=False),
    Column("to_state", String(20), nullable=False),
    Column("reason", Text, nullable=False),
)

fixes = Table(
    "audit_fixes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("run_key", String(300), nullable=True),
    Column("fingerprint", String(200), nullable=False, index=True),
    Column("strategy", String(200), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("rollback", Boolean, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("detail", Text, nullable=True),
)

alerts = Table(
    "audit_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("severity", String(20), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("title", Text, nullable=False),
    Column("fingerprint", String(200), nullable=False),
    Column("outcome", String(20), nullable=False),  # sent | muted | failed
    Column("reason", Text, nullable=True),
)

reruns = Table(
    "audit_reruns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("run_id", BigInteger, nullable=False, index=True),
    Column("head_sha", String(64), nullable=True),
    Column("fingerprints", Text, nullable=False),  # JSON list
    Column("requested_at", UTCDateTime, nullable=False),
    Column("outcome", String(20), nullable=False),  # pending | passed | failed
    Column("resolved_at", UTCDateTime, nullable=True),
)

skips = Table(
    "audit_skips",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("key", String(300), nullable=True),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
)

fixes_seen = Table(
    "audit_fix_attempts_seen",
    metadata,
    Column("attempt_id", Integer, primary_key=True),
    Column("seen_at", UTCDateTime, nullable=False),
)

flaky = Table(
    "audit_flaky_fingerprints",
    metadata,
    Column("fingerprint", String(200), primary_key=True),
    Column("repo", String(200), nullable=False),
    Column("labelled_at", UTCDateTime, nullable=False),
)

# -- sources -----------------------------------------------------------------------------------

#: the ETag of each run listing the source last finished with (see sources.interface
#: PollCursors): a restarted monitor's first poll is still a free 304
poll_cursors = Table(
    "source_poll_cursors",
    metadata,
    Column("key", String(500), primary_key=True),
    Column("etag", String(300), nullable=False),
)

# -- analysis ------------------------------------------------------------------------------------

llm_answers = Table(
    "llm_answers",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("log_fingerprint", String(128), nullable=False, index=True),
    Column("model", String(200), nullable=False),
    Column("log", Text, nullable=False),
    Column("record", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

#: a failed job's last-green baseline: the masked templates of the same job's log in the
#: newest successful run (a JSON list), kept per repository, workflow and job
baseline_templates = Table(
    "baseline_templates",
    metadata,
    Column("repo", String(200), primary_key=True),
    Column("workflow", String(64), primary_key=True),
    Column("job", String(300), primary_key=True),
    Column("run_id", BigInteger, nullable=False),
    Column("templates", Text, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
)

job_durations = Table(
    "detection_job_durations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("workflow", String(300), nullable=False),
    Column("job_name", String(300), nullable=False),
    Column("job_id", BigInteger, nullable=False),
    Column("conclusion", String(30), nullable=False),
    Column("seconds", Float, nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
    UniqueConstraint("repo", "job_id", name="uq_detection_job_durations_job"),
)

# -- fixes ---------------------------------------------------------------------------------------

fix_attempts = Table(
    "fix_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(128), nullable=False, index=True),
    Column("pattern_id", String(128), nullable=False),
    Column("strategy", String(64), nullable=False),
    Column("repository", String(256)),
    Column("run_id", String(64)),
    Column("started", UTCDateTime, nullable=False),
    Column("outcome", String(32)),  # applied | rolled-back | crashed (set by recovery)
    Column("detail", Text),
)

fix_approvals = Table(
    "fix_approvals",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # pending|approved|rejected|executed
    Column("escalated", UTCDateTime),
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
    Column("decided_at", UTCDateTime),
    Column("decision_reason", Text),
)

fix_audit = Table(
    "fix_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("detail", Text),
)

# -- alerts --------------------------------------------------------------------------------------

alert_groups = Table(
    "alert_groups",
    metadata,
    Column("repo", String(300), primary_key=True),
    Column("fingerprint", String(300), primary_key=True),
    Column("severity", String(20), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("pattern_id", String(200), nullable=True),
    Column("url", Text, nullable=True),
    Column("count", Integer, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    #: set when dedupe held the group back: new alerts do not bring it forward
    Column("hold_until", UTCDateTime, nullable=True),
)

alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("repo", String(300), primary_key=True),
    Column("fingerprint", String(300), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("severity", String(20), nullable=False),
    Column("resolved", Boolean, nullable=False),
    Column("channels", Text, nullable=False),
    Column("title", Text, nullable=False, default=""),
)

alert_inhibit_sources = Table(
    "alert_inhibit_sources",
    metadata,
    Column("repo", String(300), primary_key=True),
    Column("fingerprint", String(300), primary_key=True),
    Column("pattern_id", String(200), nullable=True),
    Column("severity", String(20), nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

alert_silences = Table(
    "alert_silences",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("repo", String(300), nullable=False),
    Column("pattern", String(300), nullable=False),
    Column("severities", String(100), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(100), nullable=False),
    Column("repo", String(300), nullable=False),
    Column("fingerprint", String(300), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("url", Text, nullable=True),
    Column("count", Integer, nullable=False),
    Column("detected_at", UTCDateTime, nullable=False),
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    #: pending | delivered | dead
    Column("status", String(20), nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Index("ix_alert_outbox_due", "status", "next_attempt_at"),
)

# -- escalation ----------------------------------------------------------------------------------

escalation_issues = Table(
    "escalation_issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo", String(200), nullable=False),
    Column("fingerprint", String(200), nullable=False),
    Column("pattern_id", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("reported", Integer, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    #: the latest run's facts, as JSON (url, workflow, branch, sha, evidence, owners)
    Column("latest", Text, nullable=False),
    Column("issue_number", Integer, nullable=True),
    Column("issue_url", Text, nullable=True),
    Column("issue_state", String(20), nullable=True),  # open | closed
    Column("opened_at", UTCDateTime, nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    UniqueConstraint("repo", "fingerprint", name="uq_escalation_issues_fp"),
)

# -- work shared by several instances (see hee_monitor.record.leases) --------------------------

work_leases = Table(
    "work_leases",
    metadata,
    #: what sort of work: "run" (process a failed run), "poll", "effect", ...
    Column("kind", String(50), primary_key=True),
    Column("key", String(300), primary_key=True),
    #: the instance holding it ("" while offered and not claimed)
    Column("owner", String(200), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    #: the lease holds until then; after it, any instance may claim the work
    Column("expires_at", UTCDateTime, nullable=False),
    #: set once the work is done: never claimed again
    Column("done_at", UTCDateTime, nullable=True),
    Index("ix_work_leases_free", "kind", "done_at", "expires_at"),
)

# -- the durable flow (see hee_monitor.service.effects and hee_monitor.service.pending) ---------

#: the transactional outbox of every side effect the monitor decides, written in the
#: transaction of the decision that causes it; ``key`` is the effect's idempotency key
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
    Column("run_id", BigInteger, nullable=False),
    Column("run_attempt", Integer, nullable=False),
    #: why the run is not understood yet (no secret in it)
    Column("reason", Text, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("tries", Integer, nullable=False, default=1),
    Column("next_attempt_at", UTCDateTime, nullable=False),
)
