"""Bare Metal resources: deploy templates, volume connectors and targets, port groups
(and ports' portgroup_id) (issue 21)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy_templates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("uuid", name="uq_deploy_templates_uuid"),
        sa.UniqueConstraint("name", name="uq_deploy_templates_name"),
    )
    op.create_table(
        "volume_connectors",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("node_id", sa.Integer(), sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("connector_id", sa.String(255), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("uuid", name="uq_volume_connectors_uuid"),
        sa.UniqueConstraint("type", "connector_id",
                            name="uq_volume_connectors_type_connector_id"),
    )
    op.create_index("ix_volume_connectors_node_id", "volume_connectors", ["node_id"])
    op.create_table(
        "volume_targets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("node_id", sa.Integer(), sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("volume_type", sa.String(64), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("boot_index", sa.Integer(), nullable=False),
        sa.Column("volume_id", sa.String(255), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("uuid", name="uq_volume_targets_uuid"),
        sa.UniqueConstraint("node_id", "boot_index",
                            name="uq_volume_targets_node_id_boot_index"),
    )
    op.create_index("ix_volume_targets_node_id", "volume_targets", ["node_id"])
    op.create_table(
        "portgroups",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("node_id", sa.Integer(), sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("address", sa.String(18), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("internal_info", sa.JSON(), nullable=False),
        sa.Column("standalone_ports_supported", sa.Boolean(), nullable=False),
        sa.Column("mode", sa.String(255), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("uuid", name="uq_portgroups_uuid"),
        sa.UniqueConstraint("name", name="uq_portgroups_name"),
        sa.UniqueConstraint("address", name="uq_portgroups_address"),
    )
    op.create_index("ix_portgroups_node_id", "portgroups", ["node_id"])
    with op.batch_alter_table("ports") as batch:
        batch.add_column(sa.Column("portgroup_id", sa.Integer(), nullable=True))
        batch.create_index("ix_ports_portgroup_id", ["portgroup_id"], unique=False)
        batch.create_foreign_key("fk_ports_portgroup_id", "portgroups", ["portgroup_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("ports") as batch:
        batch.drop_constraint("fk_ports_portgroup_id", type_="foreignkey")
        batch.drop_index("ix_ports_portgroup_id")
        batch.drop_column("portgroup_id")
    op.drop_table("portgroups")
    op.drop_table("volume_targets")
    op.drop_table("volume_connectors")
    op.drop_table("deploy_templates")
