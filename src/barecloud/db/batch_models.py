"""Deploy batches: one image to many machines as one piece of work.

A batch is what one ``server create --min-count N`` or one operator
``barecloud-deploy-batches`` request asks for.  Its members are the nodes it
deploys; a member row keeps where the node sits in the chain and how its
image write went (Kadeploy's split of OK and KO nodes), so the batch can be
reported per machine after the nodes have moved on.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from barecloud.db.models import Base, TimestampMixin


class DeployBatch(TimestampMixin, Base):
    __tablename__ = "deploy_batches"

    # A Nova reservation id (r-xxxxxxxx) for a multi-create, else a UUID.
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(16))  # "chain" | "http"
    # How many members the request asked for: the gate waits for them all.
    expected: Mapped[int] = mapped_column(Integer)
    # gathering → broadcasting → done
    state: Mapped[str] = mapped_column(String(16), default="gathering")
    # The chain starts with whoever is ready by then, whatever is missing.
    gate_deadline: Mapped[dt.datetime] = mapped_column(DateTime)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    project_id: Mapped[str | None] = mapped_column(String(255), nullable=True)

    members: Mapped[list[DeployBatchMember]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", lazy="raise",
        order_by="DeployBatchMember.id")


class DeployBatchMember(TimestampMixin, Base):
    __tablename__ = "deploy_batch_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_uuid: Mapped[str] = mapped_column(
        ForeignKey("deploy_batches.uuid", ondelete="CASCADE"), index=True)
    node_uuid: Mapped[str] = mapped_column(String(36), index=True)
    node_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # waiting → ready → writing → ok | ko (retrying in between for a retry)
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Where the agent serves the chain (its heartbeat's callback_url) and the
    # token of its stream; the token is never shown by the API.
    agent_url: Mapped[str | None] = mapped_column(String(255), nullable=True)
    chain_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    delivery: Mapped[str | None] = mapped_column(String(16), nullable=True)
    retried: Mapped[bool] = mapped_column(Boolean, default=False)
    bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    failures: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    write_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    write_finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    batch: Mapped[DeployBatch] = relationship(back_populates="members", lazy="raise")
