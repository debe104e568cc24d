"""Reservation (Blazar v1) tables: reservable hosts, leases, reservations,
host allocations and lease events.

A host allocation copies its lease's window (``start_date``, ``end_date``)
and whether the lease is live (``live``), so that "is this machine free from
A to B" is one indexed query on one table; the lease service rewrites the
copies whenever a window changes, and the manager clears ``live`` when the
lease ends.
Admission happens under one calendar lock (docs/design/leasing.md), so two
overlapping allocations of one host never both commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from barecloud.db.models import Base, TimestampMixin, new_uuid


class ReservableHost(TimestampMixin, Base):
    """A machine in the reservable pool (Blazar's computehost): usable only by leases."""

    __tablename__ = "reservable_hosts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    # The name the operator enrolled it by (the node's name, else its UUID).
    hypervisor_hostname: Mapped[str] = mapped_column(String(255), unique=True)
    # False: out of the pool for new leases (Blazar's "reservable"); set by the
    # monitor when the machine breaks, by the operator with ``host set``.
    reservable: Mapped[bool] = mapped_column(Boolean, default=True)
    # Extra capabilities, free-form strings (``host set --extra gpu=true``).
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class HostProperty(TimestampMixin, Base):
    """An extra capability's visibility: private ones are listed to admins only."""

    __tablename__ = "host_properties"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)


class Lease(TimestampMixin, Base):
    __tablename__ = "leases"
    __table_args__ = (Index("ix_leases_status_end", "status", "end_date"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(80))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str | None] = mapped_column(String(255))
    start_date: Mapped[dt.datetime] = mapped_column(DateTime)
    end_date: Mapped[dt.datetime] = mapped_column(DateTime)
    before_end_date: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))
    # Why the lease is where it is (a start waiting on cleaning, an error).
    status_reason: Mapped[str] = mapped_column(Text, default="")
    degraded: Mapped[bool] = mapped_column(Boolean, default=False)
    # Claimed by one lease manager at a time (conditional UPDATE), like servers.
    holder: Mapped[str | None] = mapped_column(String(255))
    hold_until: Mapped[dt.datetime | None] = mapped_column(DateTime)

    reservations: Mapped[list[LeaseReservation]] = relationship(
        lazy="selectin", order_by="LeaseReservation.created_at", viewonly=True)
    events: Mapped[list[LeaseEvent]] = relationship(
        lazy="selectin", order_by="LeaseEvent.time", viewonly=True)


class LeaseReservation(TimestampMixin, Base):
    __tablename__ = "lease_reservations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    lease_id: Mapped[str] = mapped_column(ForeignKey("leases.id", ondelete="CASCADE"),
                                          index=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    min: Mapped[int] = mapped_column(Integer)
    max: Mapped[int] = mapped_column(Integer)
    hypervisor_properties: Mapped[str] = mapped_column(Text, default="")
    resource_properties: Mapped[str] = mapped_column(Text, default="")
    before_end: Mapped[str] = mapped_column(String(16), default="default")
    missing_resources: Mapped[bool] = mapped_column(Boolean, default=False)
    resources_changed: Mapped[bool] = mapped_column(Boolean, default=False)

    allocations: Mapped[list[HostAllocation]] = relationship(
        lazy="selectin", order_by="HostAllocation.id", viewonly=True)


class HostAllocation(Base):
    __tablename__ = "host_allocations"
    __table_args__ = (Index("ix_host_allocations_window", "host_id", "start_date",
                            "end_date"),
                      Index("ix_host_allocations_live_start", "live", "start_date"),
                      Index("ix_host_allocations_live_end", "live", "end_date"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reservation_id: Mapped[str] = mapped_column(
        ForeignKey("lease_reservations.id", ondelete="CASCADE"), index=True)
    lease_id: Mapped[str] = mapped_column(ForeignKey("leases.id", ondelete="CASCADE"),
                                          index=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("reservable_hosts.id"))
    start_date: Mapped[dt.datetime] = mapped_column(DateTime)
    end_date: Mapped[dt.datetime] = mapped_column(DateTime)
    # True while its lease is live (states.LEASE_LIVE): the calendar's queries read
    # this instead of joining leases, so they can walk the date indexes.
    live: Mapped[bool] = mapped_column(Boolean, default=True)


class LeaseEvent(TimestampMixin, Base):
    __tablename__ = "lease_events"
    __table_args__ = (Index("ix_lease_events_due", "status", "time"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    lease_id: Mapped[str] = mapped_column(ForeignKey("leases.id", ondelete="CASCADE"),
                                          index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    time: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))
