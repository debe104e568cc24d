"""hypervisors, and servers placed on them (issue 18)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hypervisors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("hostname", sa.String(255), nullable=False, unique=True),
        sa.Column("node_uuid", sa.String(36), nullable=True, unique=True),
        sa.Column("owner", sa.String(255), nullable=True, index=True),
        sa.Column("availability_zone", sa.String(255), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("credential_hash", sa.String(64), nullable=True),
        sa.Column("hypervisor_type", sa.String(32), nullable=False),
        sa.Column("hypervisor_version", sa.Integer(), nullable=False),
        sa.Column("host_ip", sa.String(64), nullable=True),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("memory_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("vcpus_used", sa.Integer(), nullable=False),
        sa.Column("memory_mb_used", sa.Integer(), nullable=False),
        sa.Column("disk_gb_used", sa.Integer(), nullable=False),
        sa.Column("running_vms", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("applied_generation", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(), nullable=True),
        sa.Column("uptime", sa.Text(), nullable=True),
        sa.Column("fault", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    )
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("hypervisor_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("action_seq", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.create_index("ix_servers_hypervisor_id", ["hypervisor_id"])


def downgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.drop_index("ix_servers_hypervisor_id")
        batch.drop_column("action_seq")
        batch.drop_column("hypervisor_id")
    op.drop_table("hypervisors")
