"""Baseline: the 23 tables of the store before migrations existed; adopts older stores.

Stores made before migrations existed have no ``alembic_version`` table: upgrading them
starts here, and a table that is already there is kept as it is (the later revisions bring
its columns and types up to date). A fresh store gets every table.

Revision ID: 0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: every instant: timestamp with time zone on PostgreSQL, UTC wall time on SQLite
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "alert_groups" not in existing:
        op.create_table(
            "alert_groups",
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("fingerprint", sa.String(length=300), nullable=False),
            sa.Column("severity", sa.String(length=20), nullable=False),
            sa.Column("kind", sa.String(length=30), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("pattern_id", sa.String(length=200), nullable=True),
            sa.Column("url", sa.Text(), nullable=True),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.Column("first_seen", TIME, nullable=False),
            sa.Column("detected_at", TIME, nullable=False),
            sa.Column("due_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("repo", "fingerprint"),
        )
    if "alert_inhibit_sources" not in existing:
        op.create_table(
            "alert_inhibit_sources",
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("fingerprint", sa.String(length=300), nullable=False),
            sa.Column("pattern_id", sa.String(length=200), nullable=True),
            sa.Column("severity", sa.String(length=20), nullable=False),
            sa.Column("seen_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("repo", "fingerprint"),
        )
    if "alert_notifications" not in existing:
        op.create_table(
            "alert_notifications",
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("fingerprint", sa.String(length=300), nullable=False),
            sa.Column("at", TIME, nullable=False),
            sa.Column("severity", sa.String(length=20), nullable=False),
            sa.Column("resolved", sa.Boolean(), nullable=False),
            sa.Column("channels", sa.Text(), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("repo", "fingerprint"),
        )
    if "alert_outbox" not in existing:
        op.create_table(
            "alert_outbox",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("channel", sa.String(length=100), nullable=False),
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("fingerprint", sa.String(length=300), nullable=False),
            sa.Column("severity", sa.String(length=20), nullable=False),
            sa.Column("kind", sa.String(length=30), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("body", sa.Text(), nullable=False),
            sa.Column("url", sa.Text(), nullable=True),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.Column("detected_at", TIME, nullable=False),
            sa.Column("enqueued_at", TIME, nullable=False),
            sa.Column("next_attempt_at", TIME, nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("last_error", sa.Text(), nullable=True),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("delivered_at", TIME, nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_alert_outbox_due", "alert_outbox", ["status", "next_attempt_at"], unique=False
        )
    if "alert_silences" not in existing:
        op.create_table(
            "alert_silences",
            sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("pattern", sa.String(length=300), nullable=False),
            sa.Column("severities", sa.String(length=100), nullable=False),
            sa.Column("comment", sa.Text(), nullable=False),
            sa.Column("created_by", sa.String(length=200), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.Column("expires_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("pk"),
            sa.UniqueConstraint("id"),
        )
    if "audit_alerts" not in existing:
        op.create_table(
            "audit_alerts",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("at", TIME, nullable=False),
            sa.Column("severity", sa.String(length=20), nullable=False),
            sa.Column("kind", sa.String(length=30), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("fingerprint", sa.String(length=200), nullable=False),
            sa.Column("outcome", sa.String(length=20), nullable=False),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_audit_alerts_at"), "audit_alerts", ["at"], unique=False)
    if "audit_decisions" not in existing:
        op.create_table(
            "audit_decisions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("run_key", sa.String(length=300), nullable=True),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("event", sa.String(length=30), nullable=False),
            sa.Column("decided_at", TIME, nullable=False),
            sa.Column("actions", sa.Text(), nullable=False),
            sa.Column("triggers", sa.Text(), nullable=False),
            sa.Column("from_state", sa.String(length=20), nullable=False),
            sa.Column("to_state", sa.String(length=20), nullable=False),
            sa.Column("reasons", sa.Text(), nullable=False),
            sa.Column("rules", sa.Text(), nullable=False),
            sa.Column("severity", sa.String(length=20), nullable=True),
            sa.Column("fingerprint", sa.String(length=200), nullable=True),
            sa.Column("pattern_id", sa.String(length=200), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_audit_decisions_decided_at"), "audit_decisions", ["decided_at"], unique=False
        )
        op.create_index(op.f("ix_audit_decisions_repo"), "audit_decisions", ["repo"], unique=False)
        op.create_index(
            op.f("ix_audit_decisions_run_key"), "audit_decisions", ["run_key"], unique=False
        )
    if "audit_diagnoses" not in existing:
        op.create_table(
            "audit_diagnoses",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("run_key", sa.String(length=300), nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("job_id", sa.BigInteger(), nullable=False),
            sa.Column("job_name", sa.String(length=300), nullable=False),
            sa.Column("unexplained", sa.Boolean(), nullable=False),
            sa.Column("findings", sa.Integer(), nullable=False),
            sa.Column("analysis_seconds", sa.Float(), nullable=False),
            sa.Column("latency_seconds", sa.Float(), nullable=True),
            sa.Column("diagnosed_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_audit_diagnoses_diagnosed_at"),
            "audit_diagnoses",
            ["diagnosed_at"],
            unique=False,
        )
        op.create_index(
            op.f("ix_audit_diagnoses_run_key"), "audit_diagnoses", ["run_key"], unique=False
        )
    if "audit_findings" not in existing:
        op.create_table(
            "audit_findings",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("run_key", sa.String(length=300), nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("job_id", sa.BigInteger(), nullable=False),
            sa.Column("pattern_id", sa.String(length=200), nullable=False),
            sa.Column("category", sa.String(length=50), nullable=False),
            sa.Column("severity", sa.String(length=20), nullable=False),
            sa.Column("risk", sa.Integer(), nullable=False),
            sa.Column("fingerprint", sa.String(length=200), nullable=False),
            sa.Column("transient", sa.Boolean(), nullable=False),
            sa.Column("confidence", sa.Float(), nullable=False),
            sa.Column("source", sa.String(length=100), nullable=False),
            sa.Column("fix_strategy", sa.String(length=200), nullable=True),
            sa.Column("recorded_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_audit_findings_fingerprint"), "audit_findings", ["fingerprint"], unique=False
        )
        op.create_index(
            op.f("ix_audit_findings_recorded_at"), "audit_findings", ["recorded_at"], unique=False
        )
        op.create_index(
            op.f("ix_audit_findings_run_key"), "audit_findings", ["run_key"], unique=False
        )
    if "audit_fix_attempts_seen" not in existing:
        op.create_table(
            "audit_fix_attempts_seen",
            sa.Column("attempt_id", sa.Integer(), nullable=False),
            sa.Column("seen_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("attempt_id"),
        )
    if "audit_fixes" not in existing:
        op.create_table(
            "audit_fixes",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("run_key", sa.String(length=300), nullable=True),
            sa.Column("fingerprint", sa.String(length=200), nullable=False),
            sa.Column("strategy", sa.String(length=200), nullable=False),
            sa.Column("success", sa.Boolean(), nullable=False),
            sa.Column("rollback", sa.Boolean(), nullable=False),
            sa.Column("started_at", TIME, nullable=False),
            sa.Column("finished_at", TIME, nullable=False),
            sa.Column("detail", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_audit_fixes_fingerprint"), "audit_fixes", ["fingerprint"], unique=False
        )
    if "audit_flaky_fingerprints" not in existing:
        op.create_table(
            "audit_flaky_fingerprints",
            sa.Column("fingerprint", sa.String(length=200), nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("labelled_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("fingerprint"),
        )
    if "audit_processed_runs" not in existing:
        op.create_table(
            "audit_processed_runs",
            sa.Column("key", sa.String(length=300), nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("run_id", sa.BigInteger(), nullable=True),
            sa.Column("run_attempt", sa.Integer(), nullable=True),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("reason", sa.Text(), nullable=True),
            sa.Column("head_sha", sa.String(length=64), nullable=True),
            sa.Column("run_completed_at", TIME, nullable=True),
            sa.Column("processed_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
        op.create_index(
            op.f("ix_audit_processed_runs_repo"), "audit_processed_runs", ["repo"], unique=False
        )
    if "audit_reruns" not in existing:
        op.create_table(
            "audit_reruns",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("run_id", sa.BigInteger(), nullable=False),
            sa.Column("head_sha", sa.String(length=64), nullable=True),
            sa.Column("fingerprints", sa.Text(), nullable=False),
            sa.Column("requested_at", TIME, nullable=False),
            sa.Column("outcome", sa.String(length=20), nullable=False),
            sa.Column("resolved_at", TIME, nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_audit_reruns_run_id"), "audit_reruns", ["run_id"], unique=False)
    if "audit_skips" not in existing:
        op.create_table(
            "audit_skips",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("key", sa.String(length=300), nullable=True),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_audit_skips_at"), "audit_skips", ["at"], unique=False)
    if "audit_transitions" not in existing:
        op.create_table(
            "audit_transitions",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("at", TIME, nullable=False),
            sa.Column("trigger", sa.String(length=50), nullable=False),
            sa.Column("from_state", sa.String(length=20), nullable=False),
            sa.Column("to_state", sa.String(length=20), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_audit_transitions_at"), "audit_transitions", ["at"], unique=False)
    if "detection_job_durations" not in existing:
        op.create_table(
            "detection_job_durations",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("workflow", sa.String(length=300), nullable=False),
            sa.Column("job_name", sa.String(length=300), nullable=False),
            sa.Column("job_id", sa.BigInteger(), nullable=False),
            sa.Column("conclusion", sa.String(length=30), nullable=False),
            sa.Column("seconds", sa.Float(), nullable=False),
            sa.Column("completed_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("repo", "job_id", name="uq_detection_job_durations_job"),
        )
    if "escalation_issues" not in existing:
        op.create_table(
            "escalation_issues",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("repo", sa.String(length=200), nullable=False),
            sa.Column("fingerprint", sa.String(length=200), nullable=False),
            sa.Column("pattern_id", sa.String(length=200), nullable=False),
            sa.Column("title", sa.Text(), nullable=False),
            sa.Column("occurrences", sa.Integer(), nullable=False),
            sa.Column("reported", sa.Integer(), nullable=False),
            sa.Column("first_seen", TIME, nullable=False),
            sa.Column("last_seen", TIME, nullable=False),
            sa.Column("latest", sa.Text(), nullable=False),
            sa.Column("issue_number", sa.Integer(), nullable=True),
            sa.Column("issue_url", sa.Text(), nullable=True),
            sa.Column("issue_state", sa.String(length=20), nullable=True),
            sa.Column("opened_at", TIME, nullable=True),
            sa.Column("closed_at", TIME, nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("repo", "fingerprint", name="uq_escalation_issues_fp"),
        )
    if "fix_approvals" not in existing:
        op.create_table(
            "fix_approvals",
            sa.Column("id", sa.String(length=64), nullable=False),
            sa.Column("created", TIME, nullable=False),
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("escalated", TIME, nullable=True),
            sa.Column("repository", sa.String(length=256), nullable=True),
            sa.Column("repo_path", sa.Text(), nullable=True),
            sa.Column("run_id", sa.String(length=64), nullable=True),
            sa.Column("pattern_id", sa.String(length=128), nullable=False),
            sa.Column("strategy", sa.String(length=64), nullable=False),
            sa.Column("fingerprint", sa.String(length=128), nullable=False),
            sa.Column("severity", sa.String(length=16), nullable=False),
            sa.Column("risk", sa.Integer(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("plan_json", sa.Text(), nullable=False),
            sa.Column("finding_json", sa.Text(), nullable=False),
            sa.Column("decided_by", sa.String(length=128), nullable=True),
            sa.Column("decided_at", TIME, nullable=True),
            sa.Column("decision_reason", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_fix_approvals_fingerprint"), "fix_approvals", ["fingerprint"], unique=False
        )
    if "fix_attempts" not in existing:
        op.create_table(
            "fix_attempts",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("fingerprint", sa.String(length=128), nullable=False),
            sa.Column("pattern_id", sa.String(length=128), nullable=False),
            sa.Column("strategy", sa.String(length=64), nullable=False),
            sa.Column("repository", sa.String(length=256), nullable=True),
            sa.Column("run_id", sa.String(length=64), nullable=True),
            sa.Column("started", TIME, nullable=False),
            sa.Column("outcome", sa.String(length=32), nullable=True),
            sa.Column("detail", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_fix_attempts_fingerprint"), "fix_attempts", ["fingerprint"], unique=False
        )
    if "fix_audit" not in existing:
        op.create_table(
            "fix_audit",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("at", TIME, nullable=False),
            sa.Column("actor", sa.String(length=128), nullable=False),
            sa.Column("action", sa.String(length=64), nullable=False),
            sa.Column("subject", sa.String(length=128), nullable=False),
            sa.Column("detail", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
    if "llm_answers" not in existing:
        op.create_table(
            "llm_answers",
            sa.Column("key", sa.String(length=64), nullable=False),
            sa.Column("log_fingerprint", sa.String(length=128), nullable=False),
            sa.Column("model", sa.String(length=200), nullable=False),
            sa.Column("log", sa.Text(), nullable=False),
            sa.Column("record", sa.Text(), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
        op.create_index(
            op.f("ix_llm_answers_log_fingerprint"), "llm_answers", ["log_fingerprint"], unique=False
        )
    if "source_poll_cursors" not in existing:
        op.create_table(
            "source_poll_cursors",
            sa.Column("key", sa.String(length=500), nullable=False),
            sa.Column("etag", sa.String(length=300), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: restore a backup of the store")
