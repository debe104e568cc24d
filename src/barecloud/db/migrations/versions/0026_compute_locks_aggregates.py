"""compute servers: Nova's lock (``locked_by``: owner or admin; ``locked_reason``);
``aggregates``: an admin's host aggregates (name, metadata, hosts)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("locked_by", sa.String(5), nullable=True))
        batch.add_column(sa.Column("locked_reason", sa.Text(), nullable=True))
    op.create_table(
        "aggregates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("aggregates")
    with op.batch_alter_table("servers") as batch:
        batch.drop_column("locked_reason")
        batch.drop_column("locked_by")
