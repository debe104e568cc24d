"""console sessions announced to every API process (VM consoles across processes)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session", sa.String(64), nullable=False, unique=True),
        sa.Column("hypervisor_uuid", sa.String(36), nullable=False),
        sa.Column("server_uuid", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("relay", sa.String(255), nullable=False),
        sa.Column("attached", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("server_uuid", "kind", name="uq_console_sessions_server_kind"),
    )
    op.create_index("ix_console_sessions_hypervisor_uuid", "console_sessions",
                    ["hypervisor_uuid"])


def downgrade() -> None:
    op.drop_table("console_sessions")
