"""networks: networks, subnets, ports, IP allocations, RBAC, quotas, switch port samples

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20 10:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _stamps() -> list[sa.Column[Any]]:
    return [sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=True)]


def upgrade() -> None:
    op.create_table(
        "networks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("router_external", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mtu", sa.Integer(), nullable=False),
        sa.Column("network_type", sa.String(length=16), nullable=False),
        sa.Column("physical_network", sa.String(length=64), nullable=True),
        sa.Column("segmentation_id", sa.Integer(), nullable=True),
        sa.Column("port_security_enabled", sa.Boolean(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("network_type", "segmentation_id"),
    )
    op.create_index("ix_networks_project_id", "networks", ["project_id"])

    op.create_table(
        "subnets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("ip_version", sa.Integer(), nullable=False),
        sa.Column("cidr", sa.String(length=64), nullable=False),
        sa.Column("gateway_ip", sa.String(length=64), nullable=True),
        sa.Column("enable_dhcp", sa.Boolean(), nullable=False),
        sa.Column("dns_nameservers", sa.JSON(), nullable=False),
        sa.Column("allocation_pools", sa.JSON(), nullable=False),
        sa.Column("host_routes", sa.JSON(), nullable=False),
        sa.Column("ipv6_ra_mode", sa.String(length=32), nullable=True),
        sa.Column("ipv6_address_mode", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subnets_network_id", "subnets", ["network_id"])
    op.create_index("ix_subnets_project_id", "subnets", ["project_id"])

    op.create_table(
        "network_ports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mac_address", sa.String(length=32), nullable=False),
        sa.Column("admin_state_up", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("device_owner", sa.String(length=255), nullable=False),
        sa.Column("device_id", sa.String(length=255), nullable=False),
        sa.Column("binding_host_id", sa.String(length=255), nullable=False),
        sa.Column("binding_vnic_type", sa.String(length=32), nullable=False),
        sa.Column("binding_profile", sa.JSON(), nullable=False),
        sa.Column("binding_vif_type", sa.String(length=64), nullable=False),
        sa.Column("port_security_enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("revision_number", sa.Integer(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(["network_id"], ["networks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("network_id", "mac_address"),
    )
    op.create_index("ix_network_ports_network_id", "network_ports", ["network_id"])
    op.create_index("ix_network_ports_project_id", "network_ports", ["project_id"])
    op.create_index("ix_network_ports_device_id", "network_ports", ["device_id"])

    op.create_table(
        "ip_allocations",
        sa.Column("subnet_id", sa.String(length=36), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=False),
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("network_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["port_id"], ["network_ports.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subnet_id"], ["subnets.id"]),
        sa.PrimaryKeyConstraint("subnet_id", "ip_address"),
    )
    op.create_index("ix_ip_allocations_port_id", "ip_allocations", ["port_id"])
    op.create_index("ix_ip_allocations_network_id", "ip_allocations", ["network_id"])

    op.create_table(
        "network_rbac",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("target_tenant", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("object_type", "object_id", "target_tenant", "action"),
    )
    op.create_index("ix_network_rbac_object_id", "network_rbac", ["object_id"])
    op.create_index("ix_network_rbac_project_id", "network_rbac", ["project_id"])
    op.create_index("ix_network_rbac_target_tenant", "network_rbac", ["target_tenant"])

    op.create_table(
        "network_quotas",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("resource", sa.String(length=255), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "resource"),
    )
    op.create_index("ix_network_quotas_project_id", "network_quotas", ["project_id"])

    op.create_table(
        "switch_port_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("switch", sa.String(length=255), nullable=False),
        sa.Column("port", sa.String(length=255), nullable=False),
        sa.Column("sampled_at", sa.DateTime(), nullable=False),
        sa.Column("rx_bytes", sa.BigInteger(), nullable=False),
        sa.Column("tx_bytes", sa.BigInteger(), nullable=False),
        sa.Column("rx_packets", sa.BigInteger(), nullable=False),
        sa.Column("tx_packets", sa.BigInteger(), nullable=False),
        sa.Column("network_port_id", sa.String(length=36), nullable=True),
        sa.Column("network_id", sa.String(length=36), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("device_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_switch_port_samples_switch_sampled_at", "switch_port_samples",
                    ["switch", "sampled_at"])


def downgrade() -> None:
    op.drop_index("ix_switch_port_samples_switch_sampled_at", "switch_port_samples")
    op.drop_table("switch_port_samples")
    op.drop_index("ix_network_quotas_project_id", "network_quotas")
    op.drop_table("network_quotas")
    for name in ("target_tenant", "project_id", "object_id"):
        op.drop_index(f"ix_network_rbac_{name}", "network_rbac")
    op.drop_table("network_rbac")
    op.drop_index("ix_ip_allocations_network_id", "ip_allocations")
    op.drop_index("ix_ip_allocations_port_id", "ip_allocations")
    op.drop_table("ip_allocations")
    for name in ("device_id", "project_id", "network_id"):
        op.drop_index(f"ix_network_ports_{name}", "network_ports")
    op.drop_table("network_ports")
    op.drop_index("ix_subnets_project_id", "subnets")
    op.drop_index("ix_subnets_network_id", "subnets")
    op.drop_table("subnets")
    op.drop_index("ix_networks_project_id", "networks")
    op.drop_table("networks")
