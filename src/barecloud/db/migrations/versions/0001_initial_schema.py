"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:16:13.748583
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chassis",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_table(
        "conductors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("conductor_group", sa.String(length=255), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hostname"),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("driver", sa.String(length=255), nullable=False),
        sa.Column("driver_info", sa.JSON(), nullable=False),
        sa.Column("driver_internal_info", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("instance_info", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("network_data", sa.JSON(), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=True),
        sa.Column("resource_class", sa.String(length=80), nullable=True),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("lessee", sa.String(length=255), nullable=True),
        sa.Column("conductor_group", sa.String(length=255), nullable=False),
        sa.Column("chassis_uuid", sa.String(length=36), nullable=True),
        sa.Column("allocation_uuid", sa.String(length=36), nullable=True),
        sa.Column("provision_state", sa.String(length=32), nullable=False),
        sa.Column("target_provision_state", sa.String(length=32), nullable=True),
        sa.Column("provision_updated_at", sa.DateTime(), nullable=True),
        sa.Column("power_state", sa.String(length=32), nullable=True),
        sa.Column("target_power_state", sa.String(length=32), nullable=True),
        sa.Column("expected_power_state", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("maintenance", sa.Boolean(), nullable=False),
        sa.Column("maintenance_reason", sa.Text(), nullable=True),
        sa.Column("fault", sa.String(length=255), nullable=True),
        sa.Column("power_sync_failures", sa.Integer(), nullable=False),
        sa.Column("console_enabled", sa.Boolean(), nullable=False),
        sa.Column("automated_clean", sa.Boolean(), nullable=True),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("protected_reason", sa.Text(), nullable=True),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("retired_reason", sa.Text(), nullable=True),
        sa.Column("inspection_started_at", sa.DateTime(), nullable=True),
        sa.Column("inspection_finished_at", sa.DateTime(), nullable=True),
        sa.Column("clean_step", sa.JSON(), nullable=False),
        sa.Column("deploy_step", sa.JSON(), nullable=False),
        sa.Column("boot_interface", sa.String(length=255), nullable=True),
        sa.Column("console_interface", sa.String(length=255), nullable=True),
        sa.Column("deploy_interface", sa.String(length=255), nullable=True),
        sa.Column("inspect_interface", sa.String(length=255), nullable=True),
        sa.Column("management_interface", sa.String(length=255), nullable=True),
        sa.Column("network_interface", sa.String(length=255), nullable=True),
        sa.Column("power_interface", sa.String(length=255), nullable=True),
        sa.Column("rescue_interface", sa.String(length=255), nullable=True),
        sa.Column("reservation", sa.String(length=255), nullable=True),
        sa.Column("workflow", sa.String(length=64), nullable=True),
        sa.Column("workflow_step", sa.Integer(), nullable=False),
        sa.Column("workflow_args", sa.JSON(), nullable=False),
        sa.Column("workflow_deadline", sa.DateTime(), nullable=True),
        sa.Column("workflow_attempts", sa.Integer(), nullable=False),
        sa.Column("agent_token", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_uuid"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nodes_lessee"), ["lessee"], unique=False)
        batch_op.create_index(batch_op.f("ix_nodes_maintenance"), ["maintenance"], unique=False)
        batch_op.create_index(batch_op.f("ix_nodes_owner"), ["owner"], unique=False)
        batch_op.create_index("ix_nodes_provision_state", ["provision_state"], unique=False)
        batch_op.create_index("ix_nodes_reservation", ["reservation"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_nodes_resource_class"), ["resource_class"], unique=False
        )
        batch_op.create_index("ix_nodes_workflow_deadline", ["workflow_deadline"], unique=False)

    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("node_id", sa.Integer(), nullable=True),
        sa.Column("resource_class", sa.String(length=80), nullable=True),
        sa.Column("traits", sa.JSON(), nullable=False),
        sa.Column("candidate_nodes", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("node_id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_table(
        "node_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("conductor", sa.String(length=255), nullable=True),
        sa.Column("user", sa.String(length=255), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("node_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_node_history_node_id"), ["node_id"], unique=False)

    op.create_table(
        "node_traits",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("trait", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node_id", "trait"),
    )
    op.create_table(
        "ports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("address", sa.String(length=18), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("internal_info", sa.JSON(), nullable=False),
        sa.Column("local_link_connection", sa.JSON(), nullable=False),
        sa.Column("pxe_enabled", sa.Boolean(), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=True),
        sa.Column("is_smartnic", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ports_node_id"), ["node_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ports_node_id"))

    op.drop_table("ports")
    op.drop_table("node_traits")
    with op.batch_alter_table("node_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_node_history_node_id"))

    op.drop_table("node_history")
    op.drop_table("allocations")
    with op.batch_alter_table("nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_nodes_workflow_deadline")
        batch_op.drop_index(batch_op.f("ix_nodes_resource_class"))
        batch_op.drop_index("ix_nodes_reservation")
        batch_op.drop_index("ix_nodes_provision_state")
        batch_op.drop_index(batch_op.f("ix_nodes_owner"))
        batch_op.drop_index(batch_op.f("ix_nodes_maintenance"))
        batch_op.drop_index(batch_op.f("ix_nodes_lessee"))

    op.drop_table("nodes")
    op.drop_table("conductors")
    op.drop_table("chassis")
