"""Work leases: several instances on one database claim work, each unit done once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "work_leases",
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("done_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    op.create_index("ix_work_leases_free", "work_leases", ["kind", "done_at", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_work_leases_free", table_name="work_leases")
    op.drop_table("work_leases")
