"""The durable flow: effect intents (the outbox of side effects) and runs waiting for logs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # a store opened by a build that made these tables with create_all already has them
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "effect_intents" not in existing:
        op.create_table(
            "effect_intents",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("key", sa.String(length=500), nullable=False),
            sa.Column("kind", sa.String(length=30), nullable=False),
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("run_key", sa.String(length=300), nullable=True),
            sa.Column("payload", sa.Text(), nullable=False),
            sa.Column("status", sa.String(length=20), nullable=False),
            sa.Column("tries", sa.Integer(), nullable=False),
            sa.Column("created_at", TIME, nullable=False),
            sa.Column("next_attempt_at", TIME, nullable=False),
            sa.Column("last_error", sa.Text(), nullable=True),
            sa.Column("done_at", TIME, nullable=True),
            sa.Column("result", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("key"),
        )
        op.create_index("ix_effect_intents_due", "effect_intents", ["status", "next_attempt_at"])
        op.create_index(op.f("ix_effect_intents_run_key"), "effect_intents", ["run_key"])
    if "pending_runs" not in existing:
        op.create_table(
            "pending_runs",
            sa.Column("key", sa.String(length=300), nullable=False),
            sa.Column("repo", sa.String(length=300), nullable=False),
            sa.Column("run_id", sa.BigInteger(), nullable=False),
            sa.Column("run_attempt", sa.Integer(), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("first_seen", TIME, nullable=False),
            sa.Column("tries", sa.Integer(), nullable=False),
            sa.Column("next_attempt_at", TIME, nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
        op.create_index(op.f("ix_pending_runs_repo"), "pending_runs", ["repo"])


def downgrade() -> None:
    op.drop_table("pending_runs")
    op.drop_table("effect_intents")
