"""deploy batches and their members

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 23:45:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column[Any]]:
    return [sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=True)]


def upgrade() -> None:
    op.create_table(
        "deploy_batches",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("gate_deadline", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("uuid"),
    )
    op.create_table(
        "deploy_batch_members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_uuid", sa.String(length=36), nullable=False),
        sa.Column("node_uuid", sa.String(length=36), nullable=False),
        sa.Column("node_name", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("agent_url", sa.String(length=255), nullable=True),
        sa.Column("chain_token", sa.String(length=64), nullable=True),
        sa.Column("delivery", sa.String(length=16), nullable=True),
        sa.Column("retried", sa.Boolean(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("write_started_at", sa.DateTime(), nullable=True),
        sa.Column("write_finished_at", sa.DateTime(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(["batch_uuid"], ["deploy_batches.uuid"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deploy_batch_members_batch_uuid", "deploy_batch_members",
                    ["batch_uuid"])
    op.create_index("ix_deploy_batch_members_node_uuid", "deploy_batch_members",
                    ["node_uuid"])


def downgrade() -> None:
    op.drop_table("deploy_batch_members")
    op.drop_table("deploy_batches")
