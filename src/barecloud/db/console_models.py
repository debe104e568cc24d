"""Console tokens: who may attach to which server's or node's console, until when
(docs/design/remote-consoles.md).

The token itself is shown once, in the console URL; the row keeps its
SHA-256 only, so the database opens no console.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String
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
