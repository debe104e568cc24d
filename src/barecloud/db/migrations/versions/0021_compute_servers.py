"""compute servers: access IPs and tags, as Nova keeps them (issue 21)

``access_ip_v4``/``access_ip_v6``: the addresses a user says the server is
reached at (``accessIPv4``/``accessIPv6`` at create, update and rebuild; before,
accepted and dropped). ``tags``: the server's tags (2.26), a list.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("access_ip_v4", sa.String(39), nullable=True))
        batch.add_column(sa.Column("access_ip_v6", sa.String(39), nullable=True))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.drop_column("tags")
        batch.drop_column("access_ip_v6")
        batch.drop_column("access_ip_v4")
