"""Networks, subnets, ports and RBAC policies as Neutron shows them to this caller.

``provider:*`` and the port binding's host, profile and VIF are shown to
admins only (Neutron's get_network:provider:* / get_port:binding:* rules);
``shared`` is per caller: shared with everyone or with the caller's project.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from barecloud.db.network_models import (
    FloatingIP,
    Network,
    NetworkPort,
    NetworkRbac,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from barecloud.services import policy
from barecloud.services.context import RequestContext
from barecloud.services.network import floatingips
from barecloud.services.network.common import WILDCARD, is_shared_for
from barecloud.services.network.networks import ZONES
from barecloud.services.network.routers import InterfaceInfo, RouterView
from barecloud.services.tenancy import project_of


def iso(when: dt.datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _standard(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": getattr(row, "name", ""), "tenant_id": row.project_id,
            "project_id": row.project_id, "description": row.description,
            "created_at": iso(row.created_at),
            "updated_at": iso(row.updated_at or row.created_at),
            "revision_number": row.revision_number}


def network(ctx: RequestContext, n: Network) -> dict[str, Any]:
    body = {
        **_standard(n), "admin_state_up": n.admin_state_up, "status": n.status,
        "mtu": n.mtu, "shared": is_shared_for(ctx, n), "router:external": n.router_external,
        "subnets": [s.id for s in n.subnets], "port_security_enabled": n.port_security_enabled,
        "availability_zone_hints": [], "availability_zones": list(ZONES),
        "ipv4_address_scope": None, "ipv6_address_scope": None, "l2_adjacency": True,
    }
    if policy.can(ctx, "network:get_network:provider", {"project_id": n.project_id}):
        body.update({"provider:network_type": n.network_type,
                     "provider:physical_network": n.physical_network,
                     "provider:segmentation_id": n.segmentation_id})
    return body


def subnet(s: Subnet) -> dict[str, Any]:
    return {
        **_standard(s), "network_id": s.network_id, "ip_version": s.ip_version,
        "cidr": s.cidr, "gateway_ip": s.gateway_ip, "enable_dhcp": s.enable_dhcp,
        "dns_nameservers": list(s.dns_nameservers or []),
        "allocation_pools": list(s.allocation_pools or []),
        "host_routes": list(s.host_routes or []), "ipv6_ra_mode": s.ipv6_ra_mode,
        "ipv6_address_mode": s.ipv6_address_mode, "subnetpool_id": None,
        "segment_id": None, "service_types": [],
        "router:external": bool(s.router_external),
    }


def port(ctx: RequestContext, p: NetworkPort) -> dict[str, Any]:
    body = {
        **_standard(p), "network_id": p.network_id, "mac_address": p.mac_address,
        "admin_state_up": p.admin_state_up, "status": p.status, "device_id": p.device_id,
        "device_owner": p.device_owner,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                      for a in p.allocations],
        "security_groups": [b.security_group_id for b in p.security_group_bindings],
        "port_security_enabled": p.port_security_enabled,
        "binding:vnic_type": p.binding_vnic_type,
    }
    if policy.can(ctx, "network:get_port:binding", {"project_id": p.project_id}):
        body.update({"binding:host_id": p.binding_host_id,
                     "binding:profile": dict(p.binding_profile or {}),
                     "binding:vif_type": p.binding_vif_type, "binding:vif_details": {}})
    return body


def rbac_policy(r: NetworkRbac) -> dict[str, Any]:
    return {"id": r.id, "object_type": r.object_type, "object_id": r.object_id,
            "action": r.action, "target_tenant": r.target_tenant,
            "project_id": r.project_id, "tenant_id": r.project_id}


def security_group_rule(r: SecurityGroupRule, default_group: bool = False) -> dict[str, Any]:
    body = _standard(r)
    del body["name"]
    body.update({
        "security_group_id": r.security_group_id, "direction": r.direction,
        "ethertype": r.ethertype, "protocol": r.protocol,
        "port_range_min": r.port_range_min, "port_range_max": r.port_range_max,
        "remote_ip_prefix": r.remote_ip_prefix, "remote_group_id": r.remote_group_id,
        "remote_address_group_id": None,
        "normalized_cidr": str(ipaddress.ip_network(r.remote_ip_prefix, strict=False))
        if r.remote_ip_prefix else None,
        "belongs_to_default_sg": default_group})
    return body


def security_group(ctx: RequestContext, g: SecurityGroup) -> dict[str, Any]:
    mine = project_of(ctx)
    shared = g.shared or any(e.action == "access_as_shared" and e.target_tenant in
                             (WILDCARD, mine) for e in g.rbac_entries)
    return {**_standard(g), "stateful": g.stateful, "shared": shared, "tags": [],
            "security_group_rules": [security_group_rule(r, g.is_default) for r in g.rules]}


def router(ctx: RequestContext, v: RouterView) -> dict[str, Any]:
    r = v.router
    gateway = None
    if v.gateway_network_id is not None:
        gateway = {"network_id": v.gateway_network_id, "enable_snat": r.enable_snat,
                   "external_fixed_ips": [{"subnet_id": sid, "ip_address": ip}
                                          for sid, ip in v.gateway_ips]}
    return {**_standard(r), "admin_state_up": r.admin_state_up, "status": r.status,
            "external_gateway_info": gateway, "routes": [],
            "availability_zone_hints": [], "availability_zones": list(ZONES)}


def router_interface(info: InterfaceInfo) -> dict[str, Any]:
    return {"id": info.router.id, "tenant_id": info.router.project_id,
            "project_id": info.router.project_id, "port_id": info.port_id,
            "network_id": info.network_id, "subnet_id": info.subnet_ids[0],
            "subnet_ids": info.subnet_ids}


def floatingip(f: FloatingIP) -> dict[str, Any]:
    return {"id": f.id, "tenant_id": f.project_id, "project_id": f.project_id,
            "description": f.description, "floating_network_id": f.floating_network_id,
            "floating_ip_address": f.floating_ip_address, "port_id": f.fixed_port_id,
            "fixed_ip_address": f.fixed_ip_address, "router_id": f.router_id,
            "status": floatingips.status(f), "created_at": iso(f.created_at),
            "updated_at": iso(f.updated_at or f.created_at),
            "revision_number": f.revision_number}
