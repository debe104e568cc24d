"""security groups on VMs: a hypervisor's firewall fingerprint (issue 20)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-22 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hypervisors") as batch:
        batch.add_column(sa.Column("firewall_digest", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hypervisors") as batch:
        batch.drop_column("firewall_digest")
