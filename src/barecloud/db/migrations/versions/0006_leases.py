"""leases: reservable hosts, host properties, leases, reservations, host allocations, lease events

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 21:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column[Any]]:
    return [sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=True)]


def upgrade() -> None:
    op.create_table(
        "reservable_hosts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node_uuid", sa.String(length=36), nullable=False),
        sa.Column("hypervisor_hostname", sa.String(length=255), nullable=False),
        sa.Column("reservable", sa.Boolean(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node_uuid"),
        sa.UniqueConstraint("hypervisor_hostname"),
    )
    op.create_table(
        "host_properties",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "leases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("start_date", sa.DateTime(), nullable=False),
        sa.Column("end_date", sa.DateTime(), nullable=False),
        sa.Column("before_end_date", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("degraded", sa.Boolean(), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.Column("hold_until", sa.DateTime(), nullable=True),
        *_stamps(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_leases_project_id", "leases", ["project_id"])
    op.create_index("ix_leases_status_end", "leases", ["status", "end_date"])
    op.create_table(
        "lease_reservations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("min", sa.Integer(), nullable=False),
        sa.Column("max", sa.Integer(), nullable=False),
        sa.Column("hypervisor_properties", sa.Text(), nullable=False),
        sa.Column("resource_properties", sa.Text(), nullable=False),
        sa.Column("before_end", sa.String(length=16), nullable=False),
        sa.Column("missing_resources", sa.Boolean(), nullable=False),
        sa.Column("resources_changed", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["lease_id"], ["leases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lease_reservations_lease_id", "lease_reservations", ["lease_id"])
    op.create_table(
        "host_allocations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reservation_id", sa.String(length=36), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.DateTime(), nullable=False),
        sa.Column("end_date", sa.DateTime(), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["reservation_id"], ["lease_reservations.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["lease_id"], ["leases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["host_id"], ["reservable_hosts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_host_allocations_reservation_id", "host_allocations",
                    ["reservation_id"])
    op.create_index("ix_host_allocations_lease_id", "host_allocations", ["lease_id"])
    op.create_index("ix_host_allocations_window", "host_allocations",
                    ["host_id", "start_date", "end_date"])
    op.create_index("ix_host_allocations_live_start", "host_allocations",
                    ["live", "start_date"])
    op.create_index("ix_host_allocations_live_end", "host_allocations", ["live", "end_date"])
    op.create_table(
        "lease_events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lease_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["lease_id"], ["leases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lease_events_lease_id", "lease_events", ["lease_id"])
    op.create_index("ix_lease_events_due", "lease_events", ["status", "time"])


def downgrade() -> None:
    op.drop_index("ix_lease_events_due", "lease_events")
    op.drop_index("ix_lease_events_lease_id", "lease_events")
    op.drop_table("lease_events")
    for name in ("live_end", "live_start", "window", "lease_id", "reservation_id"):
        op.drop_index(f"ix_host_allocations_{name}", "host_allocations")
    op.drop_table("host_allocations")
    op.drop_index("ix_lease_reservations_lease_id", "lease_reservations")
    op.drop_table("lease_reservations")
    op.drop_index("ix_leases_status_end", "leases")
    op.drop_index("ix_leases_project_id", "leases")
    op.drop_table("leases")
    op.drop_table("host_properties")
    op.drop_table("reservable_hosts")
