"""Last-green baselines: the template set of a job's newest passing log, per repository,
workflow and job, so a passing log is downloaded once per green run.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "baseline_templates",
        sa.Column("repo", sa.String(length=200), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("job", sa.String(length=300), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("templates", sa.Text(), nullable=False),
        sa.Column("fetched_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("repo", "workflow", "job"),
    )


def downgrade() -> None:
    op.drop_table("baseline_templates")
