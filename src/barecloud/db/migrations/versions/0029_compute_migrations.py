"""compute ``migrations``: a VM's resizes, as Nova's os-migrations lists them

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("server_uuid", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("migration_type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("source_compute", sa.String(255), nullable=True),
        sa.Column("dest_compute", sa.String(255), nullable=True),
        sa.Column("old_flavor_id", sa.Integer(), nullable=True),
        sa.Column("new_flavor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index("ix_migrations_server_uuid", "migrations", ["server_uuid"])


def downgrade() -> None:
    op.drop_index("ix_migrations_server_uuid", table_name="migrations")
    op.drop_table("migrations")
