"""security groups, their rules and the ports in them (issue 20)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-21 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_groups",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("stateful", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_security_groups_project_id", "security_groups", ["project_id"])
    op.create_index("uq_security_groups_default", "security_groups", ["project_id"],
                    unique=True, sqlite_where=sa.text("is_default"),
                    postgresql_where=sa.text("is_default"))
    op.create_table(
        "security_group_rules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("security_group_id", sa.String(36),
                  sa.ForeignKey("security_groups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("ethertype", sa.String(8), nullable=False),
        sa.Column("protocol", sa.String(40), nullable=True),
        sa.Column("port_range_min", sa.Integer(), nullable=True),
        sa.Column("port_range_max", sa.Integer(), nullable=True),
        sa.Column("remote_ip_prefix", sa.String(64), nullable=True),
        sa.Column("remote_group_id", sa.String(36),
                  sa.ForeignKey("security_groups.id", ondelete="CASCADE"), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("security_group_id", "fingerprint"),
    )
    for column in ("security_group_id", "project_id", "remote_group_id"):
        op.create_index(f"ix_security_group_rules_{column}", "security_group_rules", [column])
    op.create_table(
        "port_security_groups",
        sa.Column("port_id", sa.String(36),
                  sa.ForeignKey("network_ports.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("security_group_id", sa.String(36), sa.ForeignKey("security_groups.id"),
                  primary_key=True),
    )
    op.create_index("ix_port_security_groups_security_group_id", "port_security_groups",
                    ["security_group_id"])


def downgrade() -> None:
    op.drop_table("port_security_groups")
    op.drop_table("security_group_rules")
    op.drop_table("security_groups")
