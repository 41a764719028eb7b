"""Alert groups remember until when dedupe holds them back (``hold_until``).

This column used to be added by the alert grouping code itself with an ``ALTER TABLE``
when it found a store without it; stores made before that still lack it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("alert_groups")}
    if "hold_until" not in columns:
        with op.batch_alter_table("alert_groups") as batch:
            batch.add_column(sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.drop_column("hold_until")
