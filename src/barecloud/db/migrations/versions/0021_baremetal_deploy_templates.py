"""deploy templates: Ironic's /v1/deploy_templates (issue 21)

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


def downgrade() -> None:
    op.drop_table("deploy_templates")
