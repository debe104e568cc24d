"""Console tokens: who may attach to which server's or node's console, until when
(docs/design/remote-consoles.md).

The token itself is shown once, in the console URL; the row keeps its
SHA-256 only, so the database opens no console.  Console sessions: the VM
consoles under way, for API processes to find each other's (several over
PostgreSQL; services/compute/console_sessions.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from barecloud.db.models import Base, TimestampMixin


class ConsoleToken(TimestampMixin, Base):
    __tablename__ = "console_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # serial | vnc
    server_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    node_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255))
    # None: until the console is disabled (Ironic's console API).
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ConsoleSession(Base):
    """A VM console session announced to every API process (several of them over
    PostgreSQL): the agent's long-poll in any process lists it, the process that
    gets the agent's leg forwards it to the owner's ``relay`` address, and the
    unique (server, kind) keeps one session of a kind per VM across processes.
    The owner renews ``expires_at`` while it holds the session: a dead owner's
    rows expire.  The session id is not a credential on its own (the agent's leg
    needs the host's, a forward the processes' shared key)."""

    __tablename__ = "console_sessions"
    __table_args__ = (UniqueConstraint("server_uuid", "kind",
                                       name="uq_console_sessions_server_kind"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session: Mapped[str] = mapped_column(String(64), unique=True)
    hypervisor_uuid: Mapped[str] = mapped_column(String(36), index=True)
    server_uuid: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))  # serial | vnc
    relay: Mapped[str] = mapped_column(String(255))  # the owner's "host:port"
    attached: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
