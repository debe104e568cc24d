"""chassis: nodes.chassis_uuid a foreign key to chassis.uuid, and indexed (issue 21)

Before, chassis could not be created, so a node's chassis_uuid named none; a
chassis row is made for each UUID nodes name, so no node loses its value.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


CHASSIS = sa.table("chassis", sa.column("uuid", sa.String()), sa.column("extra", sa.JSON()),
                   sa.column("created_at", sa.DateTime()))


def upgrade() -> None:
    named = op.get_bind().execute(sa.text(
        "SELECT DISTINCT chassis_uuid FROM nodes WHERE chassis_uuid IS NOT NULL AND NOT "
        "EXISTS (SELECT 1 FROM chassis WHERE chassis.uuid = nodes.chassis_uuid)")).scalars()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [{"uuid": uuid, "extra": {}, "created_at": now} for uuid in named]
    if rows:
        op.bulk_insert(CHASSIS, rows)
    with op.batch_alter_table("nodes") as batch:
        batch.create_index("ix_nodes_chassis_uuid", ["chassis_uuid"], unique=False)
        batch.create_foreign_key("fk_nodes_chassis_uuid", "chassis", ["chassis_uuid"], ["uuid"])


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_constraint("fk_nodes_chassis_uuid", type_="foreignkey")
        batch.drop_index("ix_nodes_chassis_uuid")
