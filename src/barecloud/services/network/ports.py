"""Ports: a NIC's place on a network, with its MAC, addresses and binding.

For integration (no HTTP in them), with the operator's rights:

- ``create_port(rt_or_db, ctx=None, *, project_id, network_id, device_id, device_owner,
  fixed_ips=None, mac_address=None) -> NetworkPort``: ``fixed_ips`` as in the API
  (``[{"subnet_id": ..}, {"ip_address": ..}]``), None for the defaults.
- ``delete_port(rt_or_db, ctx, port_id)``.
- ``bind_port``, ``unbind_port``, ``delete_ports_of_device``, ``get_port``: in
  ``binding.py``.

MACs are ``fa:16:3e`` and three random bytes unless given, unique per
network.  ``binding:host_id`` and ``binding:profile`` are the admin's (Nova
and Ironic set them); ``binding:vif_type`` is ``unbound`` without a host,
``other`` for a bound baremetal port (ACTIVE), ``binding_failed`` for a
normal one, as Neutron's baremetal mechanism driver leaves them.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, exists, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import (
    FloatingIP,
    IPAllocation,
    Network,
    NetworkPort,
    PortSecurityGroup,
)
from barecloud.db.session import Database
from barecloud.errors import Conflict
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import addresses, attrs, networks, quotas
from barecloud.services.network import security_groups as groups_service
from barecloud.services.network.common import (
    ListQuery,
    Page,
    bool_filter,
    column_filter,
    create_all,
    fetch_visible,
    page,
    sees_all,
    updated,
    visible_rows,
)
from barecloud.services.network.errors import (
    HTTPBadRequest,
    MacAddressInUse,
    PortNotFound,
    PortSecurityAndIPRequiredForSecurityGroups,
    PortSecurityPortHasSecurityGroup,
    ServicePortInUse,
)
from barecloud.services.tenancy import project_of, service_context

MAC_BASE = "fa:16:3e"
# Ports a router or floating IP holds: deleted with them, never through /ports.
SERVICE_OWNERS = ("network:router_interface", "network:router_gateway", "network:floatingip")
ATTEMPTS = 5


def _fixed_ips_filter(values: list[str]) -> Any:
    """``fixed_ips=ip_address=10.0.0.3`` / ``fixed_ips=subnet_id=...`` (several: all)."""
    conds = []
    for value in values:
        key, sep, wanted = value.partition("=")
        if not sep or key not in ("ip_address", "subnet_id", "ip_address_substr"):
            raise HTTPBadRequest(f"Invalid fixed_ips filter: '{value}'")
        column = IPAllocation.subnet_id if key == "subnet_id" else IPAllocation.ip_address
        match = column.contains(wanted) if key == "ip_address_substr" else column == wanted
        conds.append(exists().where(IPAllocation.port_id == NetworkPort.id, match))
    return _all(conds)


def _all(conds: list[Any]) -> Any:
    out = conds[0]
    for cond in conds[1:]:
        out = out & cond
    return out


FILTERS = {
    "id": column_filter(NetworkPort.id), "name": column_filter(NetworkPort.name),
    "description": column_filter(NetworkPort.description),
    "network_id": column_filter(NetworkPort.network_id),
    "project_id": column_filter(NetworkPort.project_id),
    "device_id": column_filter(NetworkPort.device_id),
    "device_owner": column_filter(NetworkPort.device_owner),
    "mac_address": column_filter(NetworkPort.mac_address, lambda v: v.lower()),
    "status": column_filter(NetworkPort.status),
    "admin_state_up": bool_filter(NetworkPort.admin_state_up),
    "port_security_enabled": bool_filter(NetworkPort.port_security_enabled),
    "binding:host_id": column_filter(NetworkPort.binding_host_id),
    "binding:vnic_type": column_filter(NetworkPort.binding_vnic_type),
    "binding:vif_type": column_filter(NetworkPort.binding_vif_type),
    "fixed_ips": _fixed_ips_filter,
    "security_groups": lambda values: exists().where(
        PortSecurityGroup.port_id == NetworkPort.id,
        PortSecurityGroup.security_group_id.in_(values)),
}
SORTS = {"id": NetworkPort.id, "name": NetworkPort.name, "status": NetworkPort.status,
         "network_id": NetworkPort.network_id, "mac_address": NetworkPort.mac_address,
         "device_id": NetworkPort.device_id, "device_owner": NetworkPort.device_owner,
         "project_id": NetworkPort.project_id, "tenant_id": NetworkPort.project_id,
         "admin_state_up": NetworkPort.admin_state_up, "created_at": NetworkPort.created_at,
         "updated_at": updated(NetworkPort.updated_at, NetworkPort.created_at)}


def _visible(ctx: RequestContext) -> Any:
    """One's own ports, and every port on one's own networks (Neutron's net owner rule)."""
    if sees_all(ctx):
        return None
    mine = project_of(ctx)
    return or_(NetworkPort.project_id == mine, NetworkPort.network_id.in_(
        select(Network.id).where(Network.project_id == mine)))


def target(port_project: str, network: Network) -> dict[str, Any]:
    return {"project_id": port_project, "network.project_id": network.project_id}


async def fetch(s: AsyncSession, ctx: RequestContext, port_id: str) -> NetworkPort:
    return await fetch_visible(s, NetworkPort, port_id, _visible(ctx), PortNotFound)


async def get(rt: Runtime, ctx: RequestContext, port_id: str) -> NetworkPort:
    policy.authorize(ctx, "network:get_port")
    async with rt.db.session() as s:
        return await fetch(s, ctx, port_id)


async def list_ports(rt: Runtime, ctx: RequestContext, query: ListQuery) -> Page:
    policy.authorize(ctx, "network:get_port")
    q = visible_rows(NetworkPort, _visible(ctx))
    async with rt.db.session() as s:
        return await page(s, q, NetworkPort, query, FILTERS, SORTS,
                          rt.settings.api_max_limit, PortNotFound)


# --- binding attributes -------------------------------------------------------
def vif_type(host: str, vnic: str) -> str:
    if not host:
        return "unbound"
    return "other" if vnic == "baremetal" else "binding_failed"


def apply_binding(port: NetworkPort) -> None:
    port.binding_vif_type = vif_type(port.binding_host_id, port.binding_vnic_type)
    port.status = "ACTIVE" if port.binding_vif_type == "other" else "DOWN"


def _vnic(value: Any) -> str:
    return str(value)  # declared: normal or baremetal (schemas.py)


def _profile(value: Any) -> dict[str, Any]:
    return dict(value or {})


def _groups(data: dict[str, Any]) -> list[Any] | None:
    """``security_groups`` as given (None: not given, the default group)."""
    if "security_groups" not in data:
        return None
    return list(data["security_groups"] or [])


def wants_default_group(device_owner: str) -> bool:
    """Neutron leaves its own ports (DHCP, routers: ``network:*``) out of groups."""
    return not device_owner.startswith("network:")


def new_mac() -> str:
    return MAC_BASE + "".join(f":{b:02x}" for b in secrets.token_bytes(3))


async def mac_taken(s: AsyncSession, network_id: str, mac: str,
                    port_id: str | None = None) -> bool:
    q = select(NetworkPort.id).where(NetworkPort.network_id == network_id,
                                     NetworkPort.mac_address == mac)
    if port_id is not None:
        q = q.where(NetworkPort.id != port_id)
    return await s.scalar(q) is not None


# --- create --------------------------------------------------------------------
def _authorize_create(ctx: RequestContext, data: dict[str, Any], project: str,
                      network: Network, requests: list[addresses.Request] | None) -> None:
    t = target(project, network)
    policy.authorize(ctx, "network:create_port", t)
    if "mac_address" in data:
        policy.authorize(ctx, "network:create_port:mac_address", t)
    if requests and any(r.ip_address for r in requests):
        policy.authorize(ctx, "network:create_port:fixed_ips:ip_address", t)
    for key in ("binding:host_id", "binding:profile"):
        if key in data:
            policy.authorize(ctx, f"network:create_port:{key}", t)
    if "port_security_enabled" in data:
        policy.authorize(ctx, "network:create_port:port_security_enabled", t)


async def _insert(db: Database, ctx: RequestContext, project: str, network_id: str,
                  values: dict[str, Any], requests: list[addresses.Request] | None,
                  mac: str | None, data: dict[str, Any] | None = None,
                  groups: list[Any] | None = None) -> str:
    """The port's row, addresses and security groups in one transaction (retried on a
    lost race).  ``groups`` None: the project's default group if the port has port
    security (and is not Neutron's own)."""
    default = None
    if groups is None and wants_default_group(values.get("device_owner", "")):
        default = await groups_service.ensure_default(db, project)
    for attempt in range(ATTEMPTS):
        try:
            async with db.session() as s:
                # The quota's lock first: its waiters give their admission turns back
                # (serialize), those of the network row's lock would not, and a burst
                # of creates holding every turn would stop the holder of both.
                await quotas.check(s, project, "port")
                network = await networks.fetch(s, ctx, network_id, for_update=True)
                if data is not None:
                    _authorize_create(ctx, data, project, network, requests)
                if mac is not None and await mac_taken(s, network.id, mac):
                    raise MacAddressInUse(network.id, mac)
                chosen_mac = mac or new_mac()
                while mac is None and await mac_taken(s, network.id, chosen_mac):
                    chosen_mac = new_mac()
                port_security = values.pop("port_security_enabled", None)
                port = NetworkPort(**values, network_id=network.id, project_id=project,
                                   mac_address=chosen_mac, revision_number=0,
                                   port_security_enabled=network.port_security_enabled
                                   if port_security is None else port_security)
                apply_binding(port)
                s.add(port)
                await s.flush()
                wanted = await addresses.resolve(s, network, port.id, chosen_mac, requests)
                await addresses.replace(s, network, port.id, wanted)
                if groups is None:
                    chosen = [default] if default and port.port_security_enabled else []
                elif groups and not port.port_security_enabled:
                    raise PortSecurityAndIPRequiredForSecurityGroups()
                else:
                    chosen = await groups_service.check_for_port(s, ctx, groups)
                await groups_service.set_port_groups(s, port.id, chosen)
            if chosen:
                groups_service.changed()
            return port.id
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise Conflict("The port could not be created: its address or MAC was "
                               "taken meanwhile; try again.") from None
    raise AssertionError("unreachable")


def _values(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": attrs.string(data, "name"), "description": attrs.string(data, "description"),
        "admin_state_up": attrs.boolean(data, "admin_state_up", True),
        "device_id": attrs.string(data, "device_id"),
        "device_owner": attrs.string(data, "device_owner"),
        "binding_host_id": attrs.string(data, "binding:host_id"),
        "binding_vnic_type": _vnic(data.get("binding:vnic_type", "normal")),
        "binding_profile": _profile(data.get("binding:profile")),
    }
    if "port_security_enabled" in data:
        values["port_security_enabled"] = attrs.boolean(data, "port_security_enabled", True)
    return values


async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> NetworkPort:
    """A port from a declared body (schemas.CREATE_PORT's ``port``)."""
    network_id = str(data["network_id"])
    project = attrs.owner(ctx, data)
    values = _values(data)
    mac = attrs.mac_address(data["mac_address"]) if data.get("mac_address") else None
    requests = addresses.parse(data["fixed_ips"]) if data.get("fixed_ips") is not None \
        else None
    policy.authorize(ctx, "network:get_network")
    port_id = await _insert(rt.db, ctx, project, network_id, values, requests, mac, data,
                            _groups(data))
    async with rt.db.session() as s:
        return await fetch(s, ctx, port_id)


def database(where: Runtime | Database) -> Database:
    return where.db if isinstance(where, Runtime) else where


async def create_port(where: Runtime | Database, ctx: RequestContext | None = None, *,
                      project_id: str, network_id: str, device_id: str, device_owner: str,
                      fixed_ips: list[dict[str, str]] | None = None,
                      mac_address: str | None = None,
                      security_groups: list[str] | None = None,
                      port_security: bool | None = None) -> NetworkPort:
    """A port for Compute or the conductor, with the operator's rights (no policy checks;
    ``ctx`` only names the request).  ``security_groups``: ids (None: the default);
    ``port_security`` None: the network's."""
    db = database(where)
    ctx = service_context(ctx.request_id if ctx else "req-network-internal")
    values = _values({"device_id": device_id, "device_owner": device_owner,
                      **({} if port_security is None
                         else {"port_security_enabled": port_security})})
    mac = attrs.mac_address(mac_address) if mac_address else None
    requests = addresses.parse(fixed_ips) if fixed_ips is not None else None
    port_id = await _insert(db, ctx, project_id, network_id, values, requests, mac,
                            groups=security_groups)
    async with db.session() as s:
        return await fetch(s, ctx, port_id)


async def delete_port(where: Runtime | Database, ctx: RequestContext | None,
                      port_id: str) -> None:
    """Delete a port for Compute or the conductor (no policy); PortNotFound if gone."""
    async with database(where).session() as s:
        if await s.scalar(select(NetworkPort.id).where(NetworkPort.id == port_id)) is None:
            raise PortNotFound(port_id)
        await release_floating_ips(s, [port_id])
        await s.execute(delete(IPAllocation).where(IPAllocation.port_id == port_id))
        await s.execute(delete(NetworkPort).where(NetworkPort.id == port_id))
    groups_service.changed()


async def release_floating_ips(s: AsyncSession, port_ids: list[str]) -> None:
    """Disassociate the floating IPs of ports being deleted, as Neutron does: each stays
    its project's, pointing nowhere."""
    if port_ids:
        await s.execute(sql_update(FloatingIP).where(FloatingIP.fixed_port_id.in_(port_ids))
                        .values(fixed_port_id=None, fixed_ip_address=None, router_id=None))


# --- update / delete ------------------------------------------------------------
async def update(rt: Runtime, ctx: RequestContext, port_id: str,
                 data: dict[str, Any]) -> NetworkPort:
    """Apply a declared body (schemas.UPDATE_PORT's ``port``)."""
    requests = addresses.parse(data["fixed_ips"]) if data.get("fixed_ips") is not None \
        else None
    mac = attrs.mac_address(data["mac_address"]) if "mac_address" in data else None
    groups = _groups(data)
    touched = False
    policy.authorize(ctx, "network:get_port")
    async with rt.db.session() as s:
        port = await fetch(s, ctx, port_id)
        network = await networks.fetch(s, service_context(ctx.request_id), port.network_id,
                                       for_update=True)
        t = target(port.project_id, network)
        policy.authorize(ctx, "network:update_port", t)
        for key in ("mac_address", "binding:host_id", "binding:profile",
                    "port_security_enabled", "binding:vnic_type"):
            if key in data:
                policy.authorize(ctx, f"network:update_port:{key}", t)
        if requests and any(r.ip_address for r in requests):
            policy.authorize(ctx, "network:update_port:fixed_ips:ip_address", t)
        for key, column in (("name", "name"), ("description", "description"),
                            ("device_id", "device_id"), ("device_owner", "device_owner")):
            if key in data:
                setattr(port, column, attrs.string(data, key))
        if "admin_state_up" in data:
            port.admin_state_up = attrs.boolean(data, "admin_state_up", True)
        if "port_security_enabled" in data:
            port.port_security_enabled = attrs.boolean(data, "port_security_enabled", True)
        if "binding:host_id" in data:
            port.binding_host_id = attrs.string(data, "binding:host_id")
        if "binding:vnic_type" in data:
            port.binding_vnic_type = _vnic(data["binding:vnic_type"])
        if "binding:profile" in data:
            port.binding_profile = _profile(data["binding:profile"])
        if mac is not None and mac != port.mac_address:
            if port.binding_host_id:
                raise Conflict(f"Unable to complete operation on port {port.id}, port is "
                               f"already bound, port type: {port.binding_vif_type}, old_mac "
                               f"{port.mac_address}, new_mac {mac}.")
            if await mac_taken(s, network.id, mac, port.id):
                raise MacAddressInUse(network.id, mac)
            port.mac_address = mac
        if port.device_owner not in SERVICE_OWNERS:
            apply_binding(port)  # a router's or floating IP's port: its service's status
        in_groups = [b.security_group_id for b in port.security_group_bindings]
        if groups is not None:
            if groups and not port.port_security_enabled:
                raise PortSecurityAndIPRequiredForSecurityGroups()
            chosen = await groups_service.check_for_port(s, ctx, groups)
            if chosen != in_groups:
                await groups_service.set_port_groups(s, port.id, chosen)
                touched = True
        elif in_groups and not port.port_security_enabled:
            raise PortSecurityPortHasSecurityGroup()
        if requests is not None:
            current = [(a.subnet_id, a.ip_address) for a in port.allocations]
            wanted = await addresses.resolve(s, network, port.id, port.mac_address,
                                             addresses.keep_existing(requests, current))
            await addresses.replace(s, network, port.id, wanted)
        port.revision_number += 1
    if touched or "port_security_enabled" in data or requests is not None:
        groups_service.changed()
    async with rt.db.session() as s:
        return await fetch(s, ctx, port_id)


async def remove(rt: Runtime, ctx: RequestContext, port_id: str) -> None:
    policy.authorize(ctx, "network:get_port")
    async with rt.db.session() as s:
        port = await fetch(s, ctx, port_id)
        network = await s.get_one(Network, port.network_id)
        policy.authorize(ctx, "network:delete_port", target(port.project_id, network))
        if port.device_owner in SERVICE_OWNERS:
            raise ServicePortInUse(port.id, port.device_owner)
        await release_floating_ips(s, [port.id])
        await s.execute(delete(IPAllocation).where(IPAllocation.port_id == port.id))
        await s.execute(delete(NetworkPort).where(NetworkPort.id == port.id))
    groups_service.changed()  # a remote group lost a member


async def create_many(rt: Runtime, ctx: RequestContext, items: list[dict[str, Any]]
                      ) -> list[NetworkPort]:
    return await create_all(lambda data: create(rt, ctx, data),
                            lambda n: remove(rt, service_context(ctx.request_id), n.id), items)
