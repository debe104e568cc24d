"""routers and floating IPs (Neutron's l3 extension)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-20 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gw_port_id", sa.String(36), nullable=True),
        sa.Column("enable_snat", sa.Boolean(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("gw_port_id", name="uq_routers_gw_port_id"),
    )
    op.create_index("ix_routers_project_id", "routers", ["project_id"])
    op.create_table(
        "floating_ips",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("floating_network_id", sa.String(36), nullable=False),
        sa.Column("floating_port_id", sa.String(36), nullable=False),
        sa.Column("floating_ip_address", sa.String(64), nullable=False),
        sa.Column("fixed_port_id", sa.String(36), nullable=True),
        sa.Column("fixed_ip_address", sa.String(64), nullable=True),
        sa.Column("router_id", sa.String(36), nullable=True),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("floating_port_id", name="uq_floating_ips_floating_port_id"),
        sa.UniqueConstraint("floating_network_id", "fixed_port_id", "fixed_ip_address",
                            name="uq_floating_ips_fixed"),
    )
    for column in ("project_id", "floating_network_id", "fixed_port_id", "router_id"):
        op.create_index(f"ix_floating_ips_{column}", "floating_ips", [column])


def downgrade() -> None:
    op.drop_table("floating_ips")
    op.drop_table("routers")
