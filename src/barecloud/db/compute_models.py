"""Compute (Nova v2.1) tables: flavors, key pairs, servers, quotas.

A server maps to its node through ``nodes.instance_uuid = servers.uuid`` and
``servers.node_uuid``; no foreign key joins them, because a node outlives
its servers and a deleted server's row is kept (``deleted``) while its node
is cleaned.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from barecloud.db.models import Base, TimestampMixin, new_uuid, utcnow


class Flavor(TimestampMixin, Base):
    __tablename__ = "flavors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The API's "id": any string the creator chose, or a UUID.
    flavorid: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    memory_mb: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)

    extra_specs: Mapped[list[FlavorExtraSpec]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin",
        order_by="FlavorExtraSpec.key",
    )


class FlavorExtraSpec(Base):
    __tablename__ = "flavor_extra_specs"

    flavor_id: Mapped[int] = mapped_column(
        ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class FlavorProject(Base):
    """A project a private flavor is offered to (``os-flavor-access``)."""

    __tablename__ = "flavor_projects"

    flavor_id: Mapped[int] = mapped_column(
        ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True, index=True)


class KeyPair(Base):
    __tablename__ = "key_pairs"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Server(TimestampMixin, Base):
    """A Nova instance on one node.

    ``pending`` names the request the reconciler still has to carry to the
    node (``delete``, ``reboot_soft``, ...) and ``pending_sent`` whether it
    did; ``sync_holder``/``sync_until`` is the short claim one API process
    takes on the row while it does so, as ``nodes.reservation`` for nodes.
    """

    __tablename__ = "servers"
    __table_args__ = (
        Index("ix_servers_project_deleted", "project_id", "deleted"),
        # A project's page in Nova's default order, read walking the index (0014).
        Index("ix_servers_list", "project_id", "deleted", "created_at", "id"),
        Index("ix_servers_sync", "deleted", "vm_state", "task_state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    project_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    # The flavor as it was at create: later edits of the flavor change nothing.
    flavor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flavor_id: Mapped[str] = mapped_column(String(255))
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    image_ref: Mapped[str] = mapped_column(String(36))
    key_name: Mapped[str | None] = mapped_column(String(255))
    key_data: Mapped[str | None] = mapped_column(Text)
    user_data: Mapped[str | None] = mapped_column(Text)  # base64, as sent
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    requested_az: Mapped[str | None] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    networks: Mapped[Any] = mapped_column(JSON, nullable=True)
    scheduler_hints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    config_drive: Mapped[bool] = mapped_column(Boolean, default=True)
    reservation_id: Mapped[str] = mapped_column(String(255), index=True)
    launch_index: Mapped[int] = mapped_column(Integer, default=0)

    vm_state: Mapped[str] = mapped_column(String(32))
    task_state: Mapped[str | None] = mapped_column(String(32))
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    node_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    # A VM's host (db/hypervisor_models.py); ``action_seq`` numbers the changes
    # requests made to what that host should do with it (the agent's ``seq``).
    hypervisor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Nodes a deploy failed on, with why: [{"node", "error"}]; never tried again.
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    fault: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    addresses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the user says the server is reached at (Nova's accessIPv4/v6): shown only.
    access_ip_v4: Mapped[str | None] = mapped_column(String(39))
    access_ip_v6: Mapped[str | None] = mapped_column(String(39))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # OS-DCF:diskConfig AUTO (Nova's auto_disk_config): recorded and shown; growing the
    # root partition is the image's (cloud-init's growpart) on a machine's own disk.
    auto_disk_config: Mapped[bool] = mapped_column(Boolean, default=False,
                                                   server_default=false())
    # Nova's lock: who locked it ("owner" or "admin"; None: unlocked) and why (2.73).
    locked_by: Mapped[str | None] = mapped_column(String(5))
    locked_reason: Mapped[str | None] = mapped_column(Text)
    launched_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    pending: Mapped[str | None] = mapped_column(String(32))
    pending_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_holder: Mapped[str | None] = mapped_column(String(255))
    sync_until: Mapped[dt.datetime | None] = mapped_column(DateTime)

    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class InstanceAction(Base):
    """What a request did to a server (Nova's ``os-instance-actions``), kept after the
    server is deleted (2.21 lists them then).  Not unique per request: barecloud's own
    callers may act twice on a server under one context."""

    __tablename__ = "instance_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    server_uuid: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    start_time: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    message: Mapped[str | None] = mapped_column(Text)


class Migration(TimestampMixin, Base):
    """A move of a server between flavors or hosts (Nova's ``os-migrations``): here only
    a VM's resize, in place on its host.  ``status`` is what was written (``migrating``
    at the request, ``confirmed`` at confirmResize); the listing reads ``finished`` or
    ``error`` from the server while it is ``migrating`` (services/compute/migrations.py)."""

    __tablename__ = "migrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    server_uuid: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    migration_type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    source_compute: Mapped[str | None] = mapped_column(String(255))
    dest_compute: Mapped[str | None] = mapped_column(String(255))
    # Nova's integer flavor ids (flavors.id) the server left and took.
    old_flavor_id: Mapped[int | None] = mapped_column(Integer)
    new_flavor_id: Mapped[int | None] = mapped_column(Integer)


class InstanceGroup(Base):
    """A server group (Nova's ``os-server-groups``): a policy its members share."""

    __tablename__ = "instance_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(255))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class InstanceGroupMember(Base):
    """A server created into a group (its ``group`` scheduler hint); a deleted server's
    row stays and is not shown, as Nova lists only members not deleted."""

    __tablename__ = "instance_group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("instance_groups.id", ondelete="CASCADE"), primary_key=True)
    server_uuid: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)


class Aggregate(TimestampMixin, Base):
    """An admin's host aggregate (``os-aggregates``): a named group of compute hosts
    with metadata.  The zones and the projects' own hosts are aggregates derived from
    the hosts themselves, not rows (api/compute/aggregates.py)."""

    __tablename__ = "aggregates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    hosts: Mapped[list[str]] = mapped_column(JSON, default=list)


class QuotaClass(Base):
    """A quota class's limit on one resource (``os-quota-class-sets``): the ``default``
    class's are every project's defaults, over nova.conf's (quotas.DEFAULTS)."""

    __tablename__ = "quota_classes"
    __table_args__ = (UniqueConstraint("class_name", "resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    class_name: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(255))
    hard_limit: Mapped[int] = mapped_column(Integer)


class Quota(Base):
    """A project's limit on one resource (instances, cores, ram, ...); -1: none."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    resource: Mapped[str] = mapped_column(String(255))
    hard_limit: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)
