"""sFlow flow records for the top talkers by flow

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-09 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "flow_records",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("switch", sa.String(255), nullable=False),
        sa.Column("interval_start", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("in_port", sa.String(255), nullable=True),
        sa.Column("out_port", sa.String(255), nullable=True),
        sa.Column("vlan", sa.Integer(), nullable=True),
        sa.Column("protocol", sa.Integer(), nullable=True),
        sa.Column("src_mac", sa.String(17), nullable=False),
        sa.Column("dst_mac", sa.String(17), nullable=False),
        sa.Column("src_ip", sa.String(64), nullable=True),
        sa.Column("dst_ip", sa.String(64), nullable=True),
        sa.Column("src_port", sa.Integer(), nullable=True),
        sa.Column("dst_port", sa.Integer(), nullable=True),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("est_bytes", sa.BigInteger(), nullable=False),
        sa.Column("est_packets", sa.BigInteger(), nullable=False),
        *(sa.Column(f"{end}_{col}", sa.String(size), nullable=True)
          for end in ("src", "dst")
          for col, size in (("network_port_id", 36), ("network_id", 36),
                            ("project_id", 255), ("device_id", 255))),
    )
    op.create_index("ix_flow_records_switch_interval", "flow_records",
                    ["switch", "interval_start"])


def downgrade() -> None:
    op.drop_table("flow_records")
