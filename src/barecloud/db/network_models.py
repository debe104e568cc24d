"""Network (Neutron v2) tables: networks, subnets, ports, IP allocations, RBAC, quotas.

One segment per network (its type and id are columns of the network row),
as docs/design/networking.md says.  The unique constraints are what keep
concurrent requests honest: (``network_type``, ``segmentation_id``) for
segment ids, (``subnet_id``, ``ip_address``) for addresses, (``network_id``,
``mac_address``) for MACs; a losing insert retries or answers 409.
``switch_port_samples`` holds switch port counters for the top-talker report.
Security groups, their rules and the ports in them: migration 0017.
"""

from __future__ import annotations

import datetime as dt
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
    select,
    text,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from barecloud.db.models import Base, TimestampMixin, new_uuid, utcnow


class Network(TimestampMixin, Base):
    __tablename__ = "networks"
    __table_args__ = (UniqueConstraint("network_type", "segmentation_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), default="")
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    # True while a wildcard access_as_shared RBAC entry exists.
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    router_external: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    mtu: Mapped[int] = mapped_column(Integer)
    network_type: Mapped[str] = mapped_column(String(16))
    physical_network: Mapped[str | None] = mapped_column(String(64))
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)

    subnets: Mapped[list[Subnet]] = relationship(
        lazy="selectin", order_by="Subnet.created_at", viewonly=True)
    rbac_entries: Mapped[list[NetworkRbac]] = relationship(
        lazy="selectin", viewonly=True,
        primaryjoin="and_(Network.id == foreign(NetworkRbac.object_id), "
                    "NetworkRbac.object_type == 'network')")


class Subnet(TimestampMixin, Base):
    __tablename__ = "subnets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    network_id: Mapped[str] = mapped_column(
        ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"start": ip, "end": ip}], in address order.
    allocation_pools: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(32))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    # Neutron's subnet-external-network: the network's router:external, read with
    # the row (not stored); subnets.create sets it on a new row.
    router_external: Mapped[bool] = column_property(
        select(Network.router_external).where(Network.id == network_id)
        .correlate_except(Network).scalar_subquery(), expire_on_flush=False)


class NetworkPort(TimestampMixin, Base):
    __tablename__ = "network_ports"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    network_id: Mapped[str] = mapped_column(
        ForeignKey("networks.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_owner: Mapped[str] = mapped_column(String(255), default="")
    device_id: Mapped[str] = mapped_column(String(255), default="", index=True)
    binding_host_id: Mapped[str] = mapped_column(String(255), default="")
    binding_vnic_type: Mapped[str] = mapped_column(String(32), default="normal")
    # {"local_link_information": [{"switch_id", "port_id", "switch_info"}], ...}
    binding_profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    binding_vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(Text, default="")
    revision_number: Mapped[int] = mapped_column(Integer, default=0)

    allocations: Mapped[list[IPAllocation]] = relationship(
        lazy="selectin", viewonly=True,
        order_by="(IPAllocation.created_at, IPAllocation.ip_address)")
    security_group_bindings: Mapped[list[PortSecurityGroup]] = relationship(
        lazy="selectin", viewonly=True, order_by="PortSecurityGroup.security_group_id")


class IPAllocation(Base):
    """One address of a port; the primary key makes an address taken once per subnet."""

    __tablename__ = "ip_allocations"

    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnets.id"), primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    port_id: Mapped[str] = mapped_column(
        ForeignKey("network_ports.id", ondelete="CASCADE"), index=True)
    network_id: Mapped[str] = mapped_column(String(36), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class NetworkRbac(Base):
    __tablename__ = "network_rbac"
    __table_args__ = (
        UniqueConstraint("object_type", "object_id", "target_tenant", "action"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    object_type: Mapped[str] = mapped_column(String(32), default="network")
    object_id: Mapped[str] = mapped_column(String(36), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    target_tenant: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(32))


class NetworkQuota(Base):
    """A project's limit on one Network resource (network, subnet, port, ...); -1: none."""

    __tablename__ = "network_quotas"
    __table_args__ = (UniqueConstraint("project_id", "resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    resource: Mapped[str] = mapped_column(String(255))
    hard_limit: Mapped[int] = mapped_column(Integer)


class SwitchPortSample(Base):
    """Counters of one switch port at one time, with whom the port served then."""

    __tablename__ = "switch_port_samples"
    __table_args__ = (Index("ix_switch_port_samples_switch_sampled_at", "switch", "sampled_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    switch: Mapped[str] = mapped_column(String(255))
    port: Mapped[str] = mapped_column(String(255))
    sampled_at: Mapped[dt.datetime] = mapped_column(DateTime)
    rx_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    tx_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    rx_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    tx_packets: Mapped[int] = mapped_column(BigInteger, default=0)
    network_port_id: Mapped[str | None] = mapped_column(String(36))
    network_id: Mapped[str | None] = mapped_column(String(36))
    project_id: Mapped[str | None] = mapped_column(String(255))
    device_id: Mapped[str | None] = mapped_column(String(255))


class SecurityGroup(TimestampMixin, Base):
    """A named set of rules; ``shared`` mirrors a wildcard ``access_as_shared`` RBAC
    entry (the operator's firewall profiles).  One ``default`` per project: the
    partial unique index on (``project_id``) where ``is_default``."""

    __tablename__ = "security_groups"
    __table_args__ = (
        Index("uq_security_groups_default", "project_id", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), default="")
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)

    rules: Mapped[list[SecurityGroupRule]] = relationship(
        lazy="selectin", viewonly=True, foreign_keys="SecurityGroupRule.security_group_id",
        order_by="(SecurityGroupRule.created_at, SecurityGroupRule.id)")
    rbac_entries: Mapped[list[NetworkRbac]] = relationship(
        lazy="selectin", viewonly=True,
        primaryjoin="and_(SecurityGroup.id == foreign(NetworkRbac.object_id), "
                    "NetworkRbac.object_type == 'security_group')")


class SecurityGroupRule(TimestampMixin, Base):
    """One rule of a group.  ``fingerprint`` is what makes two rules the same
    (Neutron's duplicate check): unique per group, so concurrent creates of one
    rule leave one row."""

    __tablename__ = "security_group_rules"
    __table_args__ = (UniqueConstraint("security_group_id", "fingerprint"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("security_groups.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(40))
    port_range_min: Mapped[int | None] = mapped_column(Integer)
    port_range_max: Mapped[int | None] = mapped_column(Integer)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64))
    remote_group_id: Mapped[str | None] = mapped_column(
        ForeignKey("security_groups.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    fingerprint: Mapped[str] = mapped_column(String(64))
    revision_number: Mapped[int] = mapped_column(Integer, default=0)


class PortSecurityGroup(Base):
    """A port in a group (Neutron's securitygroupportbindings)."""

    __tablename__ = "port_security_groups"

    port_id: Mapped[str] = mapped_column(
        ForeignKey("network_ports.id", ondelete="CASCADE"), primary_key=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("security_groups.id"), primary_key=True, index=True)
class FlowRecord(Base):
    """Sampled packets of one flow through one switch in one collector interval.

    Written by the sFlow collector (services/network/flows.py): the samples
    of an interval are summed per flow, so a flood of one flow is one row per
    interval, not one per sample.  ``est_bytes`` is Σ frame length * sampling
    rate (what the flow moved, estimated); ``samples`` gives the estimate's
    error.  Both ends are attributed when the row is written (machines change
    hands), like ``switch_port_samples``.
    """

    __tablename__ = "flow_records"
    __table_args__ = (Index("ix_flow_records_switch_interval", "switch", "interval_start"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    switch: Mapped[str] = mapped_column(String(255))
    interval_start: Mapped[dt.datetime] = mapped_column(DateTime)
    seconds: Mapped[float] = mapped_column(Float)
    in_port: Mapped[str | None] = mapped_column(String(255))
    out_port: Mapped[str | None] = mapped_column(String(255))
    vlan: Mapped[int | None] = mapped_column(Integer)
    protocol: Mapped[int | None] = mapped_column(Integer)
    src_mac: Mapped[str] = mapped_column(String(17))
    dst_mac: Mapped[str] = mapped_column(String(17))
    src_ip: Mapped[str | None] = mapped_column(String(64))
    dst_ip: Mapped[str | None] = mapped_column(String(64))
    src_port: Mapped[int | None] = mapped_column(Integer)
    dst_port: Mapped[int | None] = mapped_column(Integer)
    samples: Mapped[int] = mapped_column(Integer)
    est_bytes: Mapped[int] = mapped_column(BigInteger)
    est_packets: Mapped[int] = mapped_column(BigInteger)
    src_network_port_id: Mapped[str | None] = mapped_column(String(36))
    src_network_id: Mapped[str | None] = mapped_column(String(36))
    src_project_id: Mapped[str | None] = mapped_column(String(255))
    src_device_id: Mapped[str | None] = mapped_column(String(255))
    dst_network_port_id: Mapped[str | None] = mapped_column(String(36))
    dst_network_id: Mapped[str | None] = mapped_column(String(36))
    dst_project_id: Mapped[str | None] = mapped_column(String(255))
    dst_device_id: Mapped[str | None] = mapped_column(String(255))


class Router(TimestampMixin, Base):
    """A Neutron router: its interfaces are ports (``device_owner``
    ``network:router_interface``, ``device_id`` the router's id) and so is its
    gateway (``network:router_gateway``), as in Neutron; ``gw_port_id`` names the
    gateway port, and ``revision_number`` fences concurrent writers (row lock)."""

    __tablename__ = "routers"
    __table_args__ = (UniqueConstraint("gw_port_id", name="uq_routers_gw_port_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    gw_port_id: Mapped[str | None] = mapped_column(String(36))
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)


class FloatingIP(TimestampMixin, Base):
    """A floating IP: an address of an external network held by a port of its own
    (``network:floatingip``), 1:1 NATed to one fixed IP of a port behind a router.
    One floating IP per fixed IP and external network (the unique constraint)."""

    __tablename__ = "floating_ips"
    __table_args__ = (
        UniqueConstraint("floating_network_id", "fixed_port_id", "fixed_ip_address",
                         name="uq_floating_ips_fixed"),
        UniqueConstraint("floating_port_id", name="uq_floating_ips_floating_port_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    floating_network_id: Mapped[str] = mapped_column(String(36), index=True)
    floating_port_id: Mapped[str] = mapped_column(String(36))
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    fixed_port_id: Mapped[str | None] = mapped_column(String(36), index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64))
    router_id: Mapped[str | None] = mapped_column(String(36), index=True)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
