"""Bare Metal up to API 1.92: every interface of a node, its RAID configuration,
shard, parent node and service step; port names are there already; runbooks and
node inventories (issue 21)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

_INTERFACES = ("bios", "firmware", "raid", "storage", "vendor")


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        for iface in _INTERFACES:
            batch.add_column(sa.Column(f"{iface}_interface", sa.String(255), nullable=True))
        batch.add_column(sa.Column("raid_config", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("target_raid_config", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("shard", sa.String(255), nullable=True))
        batch.add_column(sa.Column("parent_node", sa.String(36), nullable=True))
        batch.add_column(sa.Column("service_step", sa.JSON(), nullable=True))
    op.create_index("ix_nodes_shard", "nodes", ["shard"])
    op.create_index("ix_nodes_parent_node", "nodes", ["parent_node"])
    op.create_table(
        "runbooks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("disable_ramdisk", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("uuid", name="uq_runbooks_uuid"),
        sa.UniqueConstraint("name", name="uq_runbooks_name"),
    )
    op.create_table(
        "node_inventories",
        sa.Column("node_id", sa.Integer(), sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("inventory", sa.JSON(), nullable=False),
        sa.Column("plugin_data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("node_inventories")
    op.drop_table("runbooks")
    op.drop_index("ix_nodes_parent_node", "nodes")
    op.drop_index("ix_nodes_shard", "nodes")
    with op.batch_alter_table("nodes") as batch:
        for column in ("service_step", "parent_node", "shard", "target_raid_config",
                       "raid_config", *(f"{i}_interface" for i in _INTERFACES)):
            batch.drop_column(column)
