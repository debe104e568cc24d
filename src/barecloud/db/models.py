"""SQLAlchemy models.  Times are naive UTC; JSON columns hold free-form dicts."""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    inspect,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from barecloud.db import clock


def utcnow() -> dt.datetime:
    """Now on the database's clock (db/clock.py): every host compares the same times."""
    return clock.now()


def new_uuid() -> str:
    return str(uuidlib.uuid4())


class Base(DeclarativeBase):
    pass


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class Node(TimestampMixin, Base):
    __tablename__ = "nodes"
    __table_args__ = (
        Index("ix_nodes_provision_state", "provision_state"),
        Index("ix_nodes_reservation", "reservation"),
        Index("ix_nodes_workflow_deadline", "workflow_deadline"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    driver: Mapped[str] = mapped_column(String(255))
    driver_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    driver_internal_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    instance_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    network_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    instance_uuid: Mapped[str | None] = mapped_column(String(36), unique=True)
    resource_class: Mapped[str | None] = mapped_column(String(80), index=True)
    owner: Mapped[str | None] = mapped_column(String(255), index=True)
    lessee: Mapped[str | None] = mapped_column(String(255), index=True)
    conductor_group: Mapped[str] = mapped_column(String(255), default="")
    # Ironic's chassis_id: a chassis with nodes is not deleted (migration 0020).
    chassis_uuid: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("chassis.uuid", name="fk_nodes_chassis_uuid"), index=True)
    allocation_uuid: Mapped[str | None] = mapped_column(String(36))

    provision_state: Mapped[str] = mapped_column(String(32))
    target_provision_state: Mapped[str | None] = mapped_column(String(32))
    provision_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    power_state: Mapped[str | None] = mapped_column(String(32))
    target_power_state: Mapped[str | None] = mapped_column(String(32))
    # The power state barecloud last set on purpose, for the "enforce" policy.
    expected_power_state: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)

    maintenance: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    maintenance_reason: Mapped[str | None] = mapped_column(Text)
    fault: Mapped[str | None] = mapped_column(String(255))
    power_sync_failures: Mapped[int] = mapped_column(Integer, default=0)
    # When a conductor last claimed the node's power poll: at most one poll per
    # interval in the whole cluster, even while the hash ring changes.
    power_synced_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    console_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    automated_clean: Mapped[bool | None] = mapped_column(Boolean)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    protected_reason: Mapped[str | None] = mapped_column(Text)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    retired_reason: Mapped[str | None] = mapped_column(Text)
    inspection_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    inspection_finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    clean_step: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deploy_step: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    boot_interface: Mapped[str | None] = mapped_column(String(255))
    console_interface: Mapped[str | None] = mapped_column(String(255))
    deploy_interface: Mapped[str | None] = mapped_column(String(255))
    inspect_interface: Mapped[str | None] = mapped_column(String(255))
    management_interface: Mapped[str | None] = mapped_column(String(255))
    network_interface: Mapped[str | None] = mapped_column(String(255))
    power_interface: Mapped[str | None] = mapped_column(String(255))
    rescue_interface: Mapped[str | None] = mapped_column(String(255))
    # Interfaces barecloud drives only on fake hardware (migration 0027).
    bios_interface: Mapped[str | None] = mapped_column(String(255))
    firmware_interface: Mapped[str | None] = mapped_column(String(255))
    raid_interface: Mapped[str | None] = mapped_column(String(255))
    storage_interface: Mapped[str | None] = mapped_column(String(255))
    vendor_interface: Mapped[str | None] = mapped_column(String(255))
    raid_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    target_raid_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Ironic 1.82: the shard an operator puts the node in (for sharded clients).
    shard: Mapped[str | None] = mapped_column(String(255), index=True)
    # Ironic 1.83: the node this one is a component of (a DPU in its host).
    parent_node: Mapped[str | None] = mapped_column(String(36), index=True)
    # Ironic 1.87: the service step being run.
    service_step: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # The exclusive lock: the name of the conductor working on the node.
    reservation: Mapped[str | None] = mapped_column(String(255))
    # Workflow progress, saved after every step so a restart resumes or fails
    # the node cleanly.
    workflow: Mapped[str | None] = mapped_column(String(64))
    workflow_step: Mapped[int] = mapped_column(Integer, default=0)
    workflow_args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    workflow_deadline: Mapped[dt.datetime | None] = mapped_column(DateTime)
    workflow_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A per-deploy secret the agent must present; never rendered.
    agent_token: Mapped[str | None] = mapped_column(String(64))
    # The fence: every write of the row is ``WHERE id = ? AND version = ?`` (the
    # ORM's version counter; Core writers bump it by hand), so a writer that read
    # the row before someone else changed it fails instead of writing over them.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0,
                                         server_default="0")

    ports: Mapped[list[Port]] = relationship(back_populates="node", passive_deletes=True)
    # What the ramdisk agent said and was told: written by the agent's calls
    # without touching (or fencing) the node row.  Read-only from here.
    agent: Mapped[NodeAgent | None] = relationship(viewonly=True, lazy="selectin")
    traits: Mapped[list[NodeTrait]] = relationship(
        back_populates="node", cascade="all, delete-orphan", passive_deletes=True,
        lazy="selectin", order_by="NodeTrait.trait",
    )

    __mapper_args__ = {"version_id_col": version}

    def agent_info(self) -> dict[str, Any]:
        """The agent row's ``driver_internal_info`` keys, if it was loaded with the
        node ({} otherwise: never a lazy load, which async sessions cannot do)."""
        agent = inspect(self).attrs.agent.loaded_value
        return agent.internal_info() if isinstance(agent, NodeAgent) else {}


def bump() -> dict[str, Any]:
    """The SET item a Core UPDATE of ``nodes`` adds, so ORM writers that read the
    row before it see a new version and fail (the ORM bumps it by itself)."""
    return {"version": Node.version + 1}


# States of an agent command that is still the agent's to report on.
LIVE_COMMAND = ("pending", "running")


class NodeAgent(Base):
    """The ramdisk agent of a node: its heartbeat, its callback URL and its command.

    A row of its own, so that a heartbeat, a report and the conductor issuing
    the next command each write their own columns instead of one JSON blob
    (a heartbeat that read the blob before a new command was saved wrote the
    old, finished command back).  A report is a conditional UPDATE on
    ``command_id`` and a live ``command_status``: a late or replayed report
    matches no row.
    """

    __tablename__ = "node_agents"

    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    last_heartbeat: Mapped[dt.datetime | None] = mapped_column(DateTime)
    url: Mapped[str | None] = mapped_column(String(255))
    agent_version: Mapped[str | None] = mapped_column(String(255))
    # The token went out for this ramdisk boot (script written or lookup answered).
    token_delivered: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # A deploy batch member waiting at the gate: heartbeats must not resume it.
    at_gate: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    command_id: Mapped[str | None] = mapped_column(String(36))
    command_status: Mapped[str | None] = mapped_column(String(16))
    # The rest of the command's record: name, params, issued_at, progress, result...
    command: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def command_record(self) -> dict[str, Any]:
        """The command as nodes used to keep it in ``agent_command``; {} if none."""
        if self.command_id is None:
            return {}
        return {**(self.command or {}), "id": self.command_id, "status": self.command_status}

    def internal_info(self) -> dict[str, Any]:
        """This row as the ``driver_internal_info`` keys Ironic users read."""
        out: dict[str, Any] = {}
        if self.last_heartbeat is not None:
            out["agent_last_heartbeat"] = self.last_heartbeat.isoformat()
        if self.url:
            out["agent_url"] = self.url
        if self.agent_version:
            out["agent_version"] = self.agent_version
        if self.command_id is not None:
            out["agent_command"] = self.command_record()
        return out


class NodeTrait(Base):
    __tablename__ = "node_traits"

    node_id: Mapped[int] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    trait: Mapped[str] = mapped_column(String(255), primary_key=True)
    node: Mapped[Node] = relationship(back_populates="traits")


class Port(TimestampMixin, Base):
    __tablename__ = "ports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), unique=True)
    address: Mapped[str] = mapped_column(String(18), unique=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    internal_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    local_link_connection: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pxe_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    physical_network: Mapped[str | None] = mapped_column(String(64))
    is_smartnic: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    # Ironic's port group this NIC is a member of (a bond), if any.
    portgroup_id: Mapped[int | None] = mapped_column(ForeignKey("portgroups.id"), index=True)

    node: Mapped[Node] = relationship(back_populates="ports")
    portgroup: Mapped[Portgroup | None] = relationship(lazy="joined")


class Portgroup(TimestampMixin, Base):
    """Ironic's port group: NICs of a node bonded as one link (its member ports)."""

    __tablename__ = "portgroups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), unique=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    address: Mapped[str | None] = mapped_column(String(18), unique=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    internal_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    standalone_ports_supported: Mapped[bool] = mapped_column(Boolean, default=True)
    mode: Mapped[str | None] = mapped_column(String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Chassis(TimestampMixin, Base):
    __tablename__ = "chassis"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    description: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DeployTemplate(TimestampMixin, Base):
    """Ironic's deploy template: deploy steps for nodes whose instance asks for the
    trait the template is named after.  Steps are kept in order as one JSON list."""

    __tablename__ = "deploy_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class VolumeConnector(TimestampMixin, Base):
    """Ironic's volume connector: an initiator identity (IQN, WWPN...) of a node."""

    __tablename__ = "volume_connectors"
    __table_args__ = (UniqueConstraint("type", "connector_id",
                                       name="uq_volume_connectors_type_connector_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    connector_id: Mapped[str] = mapped_column(String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class VolumeTarget(TimestampMixin, Base):
    """Ironic's volume target: a volume a node boots from or attaches (by boot index)."""

    __tablename__ = "volume_targets"
    __table_args__ = (UniqueConstraint("node_id", "boot_index",
                                       name="uq_volume_targets_node_id_boot_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    volume_type: Mapped[str] = mapped_column(String(64))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    boot_index: Mapped[int] = mapped_column(Integer)
    volume_id: Mapped[str] = mapped_column(String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class NodeHistory(Base):
    """One row per state change or notable event: the node's audit trail."""

    __tablename__ = "node_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    event: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16), default="INFO")
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    conductor: Mapped[str | None] = mapped_column(String(255))
    user: Mapped[str | None] = mapped_column(String(255))
    duration: Mapped[float | None] = mapped_column(Float)


class Runbook(TimestampMixin, Base):
    """Ironic's runbook (API 1.92): named, ordered steps an operator, or the project
    owning it, runs on a node by naming it in a clean or service request."""

    __tablename__ = "runbooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner: Mapped[str | None] = mapped_column(String(255))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    disable_ramdisk: Mapped[bool] = mapped_column(Boolean, default=False)


class NodeInventory(Base):
    """What in-band inspection last found on a node (Ironic's node inventory, 1.81)."""

    __tablename__ = "node_inventories"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"),
                                         primary_key=True)
    inventory: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    plugin_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Allocation(TimestampMixin, Base):
    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), unique=True)
    node_id: Mapped[int | None] = mapped_column(
        ForeignKey("nodes.id", ondelete="SET NULL"), unique=True
    )
    resource_class: Mapped[str | None] = mapped_column(String(80))
    traits: Mapped[list[str]] = mapped_column(JSON, default=list)
    candidate_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner: Mapped[str | None] = mapped_column(String(255))


class Conductor(Base):
    """A member process (a conductor, or an API process that takes node locks);
    its heartbeat keeps its locks valid (docs/design/engine.md, "Recovery")."""

    __tablename__ = "conductors"
    __table_args__ = (UniqueConstraint("hostname"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hostname: Mapped[str] = mapped_column(String(255))
    conductor_group: Mapped[str] = mapped_column(String(255), default="")
    online: Mapped[bool] = mapped_column(Boolean, default=True)
    # When the current incarnation registered (a restart or a step-down sets it again).
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # A token drawn at each process start: the heartbeat of an older process
    # under the same name (paused, then resumed) matches no row.
    incarnation: Mapped[str | None] = mapped_column(String(255))
    # "conductor" (in the hash ring) or "api" (holds locks, runs no workflow).
    role: Mapped[str] = mapped_column(String(16), default="conductor",
                                      server_default="conductor")


class Image(TimestampMixin, Base):
    """A Glance v2 image: its metadata, and the hashes of the files in the store.

    ``raw_size``/``raw_sha512`` describe the raw bytes a deploy streams: the
    upload itself for raw images, its conversion for qcow2 ones.
    """

    __tablename__ = "images"
    __table_args__ = (
        Index("ix_images_status", "status"),
        Index("ix_images_owner", "owner"),
        Index("ix_images_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30), default="queued")
    status_reason: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(20), default="shared")
    owner: Mapped[str | None] = mapped_column(String(255))
    disk_format: Mapped[str | None] = mapped_column(String(20))
    container_format: Mapped[str | None] = mapped_column(String(20))
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128))
    raw_size: Mapped[int | None] = mapped_column(BigInteger)
    raw_sha512: Mapped[str | None] = mapped_column(String(128))
    # Glance's "extra properties": free-form string values.
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Locations outside the store ({"url", "metadata"}, Glance's http store), in
    # order after the store's own; None: none (services/image/locations.py).
    locations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    tags: Mapped[list[ImageTag]] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True,
        lazy="selectin", order_by="ImageTag.tag",
    )


class ImageTag(Base):
    __tablename__ = "image_tags"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    image: Mapped[Image] = relationship(back_populates="tags")


class ImageMember(TimestampMixin, Base):
    """A project a shared image is offered to, and whether it accepted."""

    __tablename__ = "image_members"
    __table_args__ = (UniqueConstraint("image_id", "member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
    member: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")


class MetadefNamespace(TimestampMixin, Base):
    """A Glance metadata definitions namespace: a catalog of properties, objects
    and tags that clients offer for images, flavors, volumes (informative only)."""

    __tablename__ = "metadef_namespaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(32), default="private")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(String(255))


class MetadefItem(TimestampMixin, Base):
    """One object, property, tag or resource-type association of a namespace;
    ``body`` holds its fields as Glance shows them, but name and times."""

    __tablename__ = "metadef_items"
    __table_args__ = (UniqueConstraint("namespace_id", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # object, property, tag, resource_type
    name: Mapped[str] = mapped_column(String(255))
    body: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ImageCacheEntry(Base):
    """Glance's image cache: an image queued for caching, or cached with its hits
    (services/image/cache.py)."""

    __tablename__ = "image_cache"

    image_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(10))  # "queued" | "cached"
    size: Mapped[int | None] = mapped_column(BigInteger)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_accessed: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_modified: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ImageTask(TimestampMixin, Base):
    """A Glance task: the record of one image import (``api_image_import``), kept
    after the image is gone, as Glance's, until ``expires_at``."""

    __tablename__ = "image_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    image_id: Mapped[str | None] = mapped_column(String(36), index=True)
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(30), default="pending")
    owner: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    input: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
