"""compute servers: access IPs and tags, as Nova keeps them (issue 21)

``access_ip_v4``/``access_ip_v6``: the addresses a user says the server is
reached at (``accessIPv4``/``accessIPv6`` at create, update and rebuild; before,
accepted and dropped). ``tags``: the server's tags (2.26), a list.
``auto_disk_config``: its ``OS-DCF:diskConfig`` (AUTO: true), also dropped before.
``instance_actions``: what each request did to a server (os-instance-actions).
``instance_groups`` and ``instance_group_members``: server groups.
``quota_classes``: os-quota-class-sets (the ``default`` class: every project's defaults).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("access_ip_v4", sa.String(39), nullable=True))
        batch.add_column(sa.Column("access_ip_v6", sa.String(39), nullable=True))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("auto_disk_config", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "instance_actions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_uuid", sa.String(36), nullable=False),
        sa.Column("action", sa.String(255), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("start_time", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_instance_actions_server_uuid", "instance_actions", ["server_uuid"])
    op.create_table(
        "instance_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("project_id", sa.String(255), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("policy", sa.String(255), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    op.create_index("ix_instance_groups_project_id", "instance_groups", ["project_id"])
    op.create_table(
        "instance_group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("server_uuid", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["instance_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "server_uuid"),
    )
    op.create_index("ix_instance_group_members_server_uuid", "instance_group_members",
                    ["server_uuid"])
    op.create_table(
        "quota_classes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("class_name", sa.String(255), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("class_name", "resource"),
    )


def downgrade() -> None:
    op.drop_table("quota_classes")
    op.drop_index("ix_instance_group_members_server_uuid",
                  table_name="instance_group_members")
    op.drop_table("instance_group_members")
    op.drop_index("ix_instance_groups_project_id", table_name="instance_groups")
    op.drop_table("instance_groups")
    op.drop_index("ix_instance_actions_server_uuid", table_name="instance_actions")
    op.drop_table("instance_actions")
    with op.batch_alter_table("servers") as batch:
        batch.drop_column("auto_disk_config")
        batch.drop_column("tags")
        batch.drop_column("access_ip_v6")
        batch.drop_column("access_ip_v4")
