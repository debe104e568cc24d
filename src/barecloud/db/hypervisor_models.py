"""Hypervisors: hosts whose host agent runs VMs (docs/design/vms.md).

A hypervisor's capacity is what its agent reports; its usage is what the
scheduler claimed (``*_used``), changed only by conditional UPDATEs so that
racing API processes never put a host past ``total * ratio``.
``generation`` goes up with every change to what the host should run, and
is what the agent's long-poll waits on.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from barecloud.db.models import Base, TimestampMixin, new_uuid

# state
UP, DOWN, NEW = "up", "down", "new"


class Hypervisor(TimestampMixin, Base):
    __tablename__ = "hypervisors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    hostname: Mapped[str] = mapped_column(String(255), unique=True)
    # The node it was deployed onto (None: a host enrolled as it is).
    node_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    # A project's own hypervisor takes only that project's VMs (None: everyone's).
    owner: Mapped[str | None] = mapped_column(String(255), index=True)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=NEW)
    credential_hash: Mapped[str | None] = mapped_column(String(64))
    hypervisor_type: Mapped[str] = mapped_column(String(32), default="QEMU")
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=0)
    host_ip: Mapped[str | None] = mapped_column(String(64))
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    vcpus_used: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb_used: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb_used: Mapped[int] = mapped_column(Integer, default=0)
    running_vms: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    applied_generation: Mapped[int] = mapped_column(Integer, default=0)
    # The fingerprint of its VMs' ports' security-group rules at the last bump of
    # ``generation`` for them (services/compute/vm_firewalls.py); None: no port.
    firewall_digest: Mapped[str | None] = mapped_column(String(16))
    reported_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    uptime: Mapped[str | None] = mapped_column(Text)  # as the host's ``uptime`` says it
    # Why it is down, for the faults of its VMs.
    fault: Mapped[str | None] = mapped_column(Text)
