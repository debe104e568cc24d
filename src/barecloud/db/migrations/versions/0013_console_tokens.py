"""console tokens (issue 19)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("server_uuid", sa.String(36), nullable=True),
        sa.Column("node_uuid", sa.String(36), nullable=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_console_tokens_server_uuid", "console_tokens", ["server_uuid"])
    op.create_index("ix_console_tokens_node_uuid", "console_tokens", ["node_uuid"])


def downgrade() -> None:
    op.drop_table("console_tokens")
