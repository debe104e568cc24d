"""nodes.version (the write fence) and node_agents (the agent's state, out of the JSON)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 07:30:00

The agent's heartbeat, callback URL, version, current command, token flag and
a batch member's gate flag were keys of ``nodes.driver_internal_info``; they
move to rows of their own, and leave the JSON.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# driver_internal_info keys that move, and those they become on the way back.
HEARTBEAT, URL, VERSION, COMMAND = ("agent_last_heartbeat", "agent_url", "agent_version",
                                    "agent_command")
DELIVERED, GATE = "agent_token_delivered", "deploy_batch_gate"
MOVED = (HEARTBEAT, URL, VERSION, COMMAND, DELIVERED, GATE)

NODES = sa.table("nodes", sa.column("id", sa.Integer()),
                 sa.column("driver_internal_info", sa.JSON()))
AGENTS = sa.table(
    "node_agents", sa.column("node_id", sa.Integer()),
    sa.column("last_heartbeat", sa.DateTime()), sa.column("url", sa.String()),
    sa.column("agent_version", sa.String()), sa.column("token_delivered", sa.Boolean()),
    sa.column("at_gate", sa.Boolean()), sa.column("command_id", sa.String()),
    sa.column("command_status", sa.String()), sa.column("command", sa.JSON()),
)


def _when(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None) if value else None
    except ValueError:
        return None


def agent_row(node_id: int, dii: dict[str, Any]) -> dict[str, Any]:
    """The node_agents row that the agent keys of ``dii`` make."""
    command = dii.get(COMMAND)
    command = dict(command) if isinstance(command, dict) and command.get("id") else {}
    return {
        "node_id": node_id,
        "last_heartbeat": _when(dii.get(HEARTBEAT)),
        "url": str(dii[URL])[:255] if dii.get(URL) else None,
        "agent_version": str(dii[VERSION])[:255] if dii.get(VERSION) else None,
        "token_delivered": bool(dii.get(DELIVERED)),
        "at_gate": bool(dii.get(GATE)),
        "command_id": str(command.pop("id"))[:36] if command else None,
        "command_status": str(command.pop("status", "pending"))[:16] if command else None,
        "command": command,
    }


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False,
                                   server_default="0"))
    op.create_table(
        "node_agents",
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(), nullable=True),
        sa.Column("url", sa.String(length=255), nullable=True),
        sa.Column("agent_version", sa.String(length=255), nullable=True),
        sa.Column("token_delivered", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("at_gate", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("command_id", sa.String(length=36), nullable=True),
        sa.Column("command_status", sa.String(length=16), nullable=True),
        sa.Column("command", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("node_id"),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(NODES.c.id, NODES.c.driver_internal_info)).all()
    agents, kept = [], []
    for node_id, dii in rows:
        dii = dii if isinstance(dii, dict) else {}
        if not any(key in dii for key in MOVED):
            continue
        agents.append(agent_row(node_id, dii))
        kept.append({"b_id": node_id,
                     "dii": {k: v for k, v in dii.items() if k not in MOVED}})
    if agents:
        conn.execute(AGENTS.insert(), agents)
        conn.execute(NODES.update().where(NODES.c.id == sa.bindparam("b_id"))
                     .values(driver_internal_info=sa.bindparam("dii")), kept)


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(AGENTS, NODES.c.driver_internal_info)
                        .join(NODES, NODES.c.id == AGENTS.c.node_id)).mappings().all()
    back = []
    for row in rows:
        dii = dict(row["driver_internal_info"] or {})
        if row["last_heartbeat"] is not None:
            dii[HEARTBEAT] = row["last_heartbeat"].isoformat()
        for key, column in ((URL, "url"), (VERSION, "agent_version")):
            if row[column]:
                dii[key] = row[column]
        dii[DELIVERED] = bool(row["token_delivered"])
        if row["at_gate"]:
            dii[GATE] = True
        if row["command_id"]:
            dii[COMMAND] = {**(row["command"] or {}), "id": row["command_id"],
                            "status": row["command_status"]}
        back.append({"b_id": row["node_id"], "dii": dii})
    if back:
        conn.execute(NODES.update().where(NODES.c.id == sa.bindparam("b_id"))
                     .values(driver_internal_info=sa.bindparam("dii")), back)
    op.drop_table("node_agents")
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("version")
