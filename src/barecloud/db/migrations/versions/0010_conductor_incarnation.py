"""conductors: incarnation (one per process start) and role (conductor or api)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-06 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conductors") as batch:
        batch.add_column(sa.Column("incarnation", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=False,
                                   server_default="conductor"))


def downgrade() -> None:
    with op.batch_alter_table("conductors") as batch:
        batch.drop_column("role")
        batch.drop_column("incarnation")
