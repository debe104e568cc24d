"""Bare Metal resources: deploy templates, volume connectors and targets (issue 21)

Revision ID: 0021_baremetal
Revises: 0020
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_baremetal"
down_revision = "0020"
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


def downgrade() -> None:
    op.drop_table("volume_targets")
    op.drop_table("volume_connectors")
    op.drop_table("deploy_templates")
