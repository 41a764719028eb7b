"""One time type and 64-bit forge ids in stores made before migrations (PostgreSQL).

The old code kept instants three ways: naive UTC, zone-aware, and a decorator of its
own; on PostgreSQL that made ``timestamp without time zone`` columns beside ``timestamp
with time zone`` ones, and run and job ids in 32-bit ``integer`` columns (GitHub's ids
no longer fit). Every stored instant was UTC, so naive values are read as UTC. SQLite
keeps types by affinity only: nothing changes there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMES = {
    "audit_processed_runs": ("run_completed_at", "processed_at"),
    "audit_diagnoses": ("diagnosed_at",),
    "audit_findings": ("recorded_at",),
    "audit_decisions": ("decided_at",),
    "audit_transitions": ("at",),
    "audit_fixes": ("started_at", "finished_at"),
    "audit_alerts": ("at",),
    "audit_reruns": ("requested_at", "resolved_at"),
    "audit_skips": ("at",),
    "audit_fix_attempts_seen": ("seen_at",),
    "audit_flaky_fingerprints": ("labelled_at",),
    "llm_answers": ("created_at",),
    "detection_job_durations": ("completed_at",),
    "fix_attempts": ("started",),
    "fix_approvals": ("created", "escalated", "decided_at"),
    "fix_audit": ("at",),
    "alert_groups": ("first_seen", "detected_at", "due_at", "hold_until"),
    "alert_notifications": ("at",),
    "alert_inhibit_sources": ("seen_at",),
    "alert_silences": ("created_at", "expires_at"),
    "alert_outbox": ("detected_at", "enqueued_at", "next_attempt_at", "delivered_at"),
    "escalation_issues": ("first_seen", "last_seen", "opened_at", "closed_at"),
}

IDS = {
    "audit_processed_runs": ("run_id",),
    "audit_diagnoses": ("job_id",),
    "audit_findings": ("job_id",),
    "audit_reruns": ("run_id",),
    "detection_job_durations": ("job_id",),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    inspector = sa.inspect(bind)
    for table, names in TIMES.items():
        columns = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        for name in names:
            kind = columns.get(name)
            if isinstance(kind, sa.DateTime) and not kind.timezone:
                op.alter_column(
                    table,
                    name,
                    type_=sa.DateTime(timezone=True),
                    postgresql_using=f"\"{name}\" AT TIME ZONE 'UTC'",
                )
    for table, names in IDS.items():
        columns = {c["name"]: c["type"] for c in inspector.get_columns(table)}
        for name in names:
            kind = columns.get(name)
            if isinstance(kind, sa.Integer) and not isinstance(kind, sa.BigInteger):
                op.alter_column(table, name, type_=sa.BigInteger())


def downgrade() -> None:
    pass
