"""Networks: create (with their segment), list, show, update, delete; find by name.

For integration (no HTTP in them):

- ``find_network(db, name_or_id) -> Network``: by id, else by a name only one
  network has (the ``provisioning_network`` / ``cleaning_network`` settings).
- ``segment_of(db, network_id) -> Segment``: in ``binding.py``.

Only admins set ``provider:*``, ``shared`` and ``router:external``, as in
Neutron.  ``shared=True`` is kept as a wildcard ``access_as_shared`` RBAC
entry (and ``router:external`` as an ``access_as_external`` one), so the
RBAC list shows them as Neutron's does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.config import Settings
from barecloud.db.network_models import (
    FloatingIP,
    IPAllocation,
    Network,
    NetworkPort,
    NetworkRbac,
    Subnet,
)
from barecloud.db.session import Database
from barecloud.errors import Conflict
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import attrs, quotas, segments, wakeup
from barecloud.services.network.common import (
    WILDCARD,
    ListQuery,
    Page,
    bool_filter,
    column_filter,
    create_all,
    fetch_visible,
    int_filter,
    network_visible,
    page,
    shared_with,
    updated,
    visible_rows,
)
from barecloud.services.network.errors import (
    InvalidInput,
    InvalidSharedSetting,
    NetworkInUse,
    NetworkNotFound,
    NoNetworkAvailable,
    TunnelIdInUse,
    VlanIdInUse,
)
from barecloud.services.tenancy import service_context

DHCP_OWNER = "network:dhcp"
PROVIDER = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")
ZONES = ("nova",)
ATTEMPTS = 10

FILTERS = {
    "id": column_filter(Network.id), "name": column_filter(Network.name),
    "description": column_filter(Network.description),
    "project_id": column_filter(Network.project_id), "status": column_filter(Network.status),
    "admin_state_up": bool_filter(Network.admin_state_up),
    "shared": bool_filter(Network.shared),
    "router:external": bool_filter(Network.router_external),
    "port_security_enabled": bool_filter(Network.port_security_enabled),
    "mtu": int_filter(Network.mtu, "mtu"),
    "provider:network_type": column_filter(Network.network_type),
    "provider:physical_network": column_filter(Network.physical_network),
    "provider:segmentation_id": int_filter(Network.segmentation_id,
                                           "provider:segmentation_id"),
}
SORTS = {"id": Network.id, "name": Network.name, "status": Network.status,
         "mtu": Network.mtu, "admin_state_up": Network.admin_state_up,
         "shared": Network.shared, "project_id": Network.project_id,
         "tenant_id": Network.project_id, "created_at": Network.created_at,
         "updated_at": updated(Network.updated_at, Network.created_at)}


def target(network: Network) -> dict[str, Any]:
    return {"project_id": network.project_id}


async def fetch(s: AsyncSession, ctx: RequestContext, network_id: str,
                for_update: bool = False) -> Network:
    """The network if the caller sees it, else Neutron's 404."""
    return await fetch_visible(s, Network, network_id, network_visible(ctx), NetworkNotFound,
                               for_update)


async def get(rt: Runtime, ctx: RequestContext, network_id: str) -> Network:
    policy.authorize(ctx, "network:get_network")
    async with rt.db.session() as s:
        return await fetch(s, ctx, network_id)


async def list_networks(rt: Runtime, ctx: RequestContext, query: ListQuery) -> Page:
    policy.authorize(ctx, "network:get_network")
    q = visible_rows(Network, network_visible(ctx))
    filters = dict(FILTERS)
    if "shared" in query.filters:  # Neutron's per-caller meaning: shared with me
        wanted = [attrs.to_bool(v) for v in query.filters["shared"]]
        filters["shared"] = lambda _: (shared_with(ctx) if wanted[0]
                                       else ~shared_with(ctx))
    async with rt.db.session() as s:
        return await page(s, q, Network, query, filters, SORTS, rt.settings.api_max_limit,
                          NetworkNotFound)


# --- create --------------------------------------------------------------------
def _provider(ctx: RequestContext, settings: Settings, data: dict[str, Any]
              ) -> tuple[str, str | None, int | None]:
    for key in PROVIDER:
        if key in data:
            policy.authorize(ctx, f"network:create_network:{key}")
    kind = data.get("provider:network_type") or settings.network_default_type
    if kind not in segments.TYPES:
        raise InvalidInput(f"network_type value '{kind}' not supported")
    physnet = attrs.string(data, "provider:physical_network") or None
    seg_id = data.get("provider:segmentation_id")
    if seg_id is not None:
        seg_id = attrs.integer(seg_id, "provider:segmentation_id")
    if kind == "vxlan":
        if physnet:
            raise InvalidInput("provider:physical_network specified for vxlan network")
    else:
        physnet = physnet or segments.DEFAULT_PHYSNET
    if kind == "flat" and seg_id is not None:
        raise InvalidInput("provider:segmentation_id specified for flat network")
    if seg_id is not None and not 1 <= seg_id <= segments.MAX_ID[kind]:
        raise InvalidInput(f"provider:segmentation_id out of range (1 through "
                           f"{segments.MAX_ID[kind]})")
    return kind, physnet, seg_id


def _mtu(data: dict[str, Any], settings: Settings, kind: str) -> int:
    biggest = segments.default_mtu(settings, kind)
    if data.get("mtu") is None:
        return biggest
    mtu = attrs.integer(data["mtu"], "mtu", minimum=68)
    if mtu > biggest:
        raise InvalidInput(f"Requested MTU is too big, maximum is {biggest}")
    return mtu


def _zones(data: dict[str, Any]) -> None:
    hints = data.get("availability_zone_hints", [])
    unknown = [h for h in hints if h not in ZONES]
    if unknown:
        raise InvalidInput(f"Availability zone {unknown[0]} could not be found")


async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> Network:
    """A network from a declared body (schemas.CREATE_NETWORK's ``network``)."""
    project = attrs.owner(ctx, data)
    policy.authorize(ctx, "network:create_network", {"project_id": project})
    shared = attrs.boolean(data, "shared", False)
    external = attrs.boolean(data, "router:external", False)
    if "shared" in data:
        policy.authorize(ctx, "network:create_network:shared", {"project_id": project})
    if "router:external" in data:
        policy.authorize(ctx, "network:create_network:router:external",
                         {"project_id": project})
    kind, physnet, wanted_id = _provider(ctx, rt.settings, data)
    _zones(data)
    values = dict(
        name=attrs.string(data, "name"), description=attrs.string(data, "description"),
        admin_state_up=attrs.boolean(data, "admin_state_up", True), shared=shared,
        router_external=external, mtu=_mtu(data, rt.settings, kind), network_type=kind,
        physical_network=physnet, project_id=project, status="ACTIVE",
        port_security_enabled=attrs.boolean(data, "port_security_enabled", True),
        revision_number=0)
    for attempt in range(ATTEMPTS):
        try:
            async with rt.db.session() as s:
                await quotas.check(s, project, "network")
                seg_id = wanted_id
                if kind != "flat":
                    await segments.lock(s, kind)
                    if seg_id is None:
                        seg_id = await segments.allocate(s, rt.settings, kind)
                    elif await segments.in_use(s, kind, seg_id):
                        raise _in_use(kind, seg_id, physnet)
                network = Network(**values, segmentation_id=seg_id)
                s.add(network)
                await s.flush()
                for action, on in (("access_as_shared", shared),
                                   ("access_as_external", external)):
                    if on:
                        s.add(NetworkRbac(object_type="network", object_id=network.id,
                                          project_id=project, target_tenant=WILDCARD,
                                          action=action))
            break
        except IntegrityError:
            if wanted_id is not None:
                raise _in_use(kind, wanted_id, physnet) from None
            if attempt == ATTEMPTS - 1:
                raise NoNetworkAvailable() from None
    async with rt.db.session() as s:
        return await fetch(s, ctx, network.id)


def _in_use(kind: str, seg_id: int, physnet: str | None) -> Conflict:
    return TunnelIdInUse(seg_id) if kind == "vxlan" else VlanIdInUse(seg_id, physnet)


# --- update ----------------------------------------------------------------------
async def foreign_ports(s: AsyncSession, network: Network,
                        projects: list[str] | None = None) -> list[str]:
    """Projects other than the owner with ports on ``network`` (of ``projects`` if given)."""
    q = select(NetworkPort.project_id).distinct().where(
        NetworkPort.network_id == network.id, NetworkPort.project_id != network.project_id,
        NetworkPort.device_owner != DHCP_OWNER)
    if projects is not None:
        q = q.where(NetworkPort.project_id.in_(projects))
    return list((await s.scalars(q)).all())


async def update(rt: Runtime, ctx: RequestContext, network_id: str,
                 data: dict[str, Any]) -> Network:
    """Apply a declared body (schemas.UPDATE_NETWORK's ``network``)."""
    policy.authorize(ctx, "network:get_network")
    async with rt.db.session() as s:
        network = await fetch(s, ctx, network_id, for_update=True)
        policy.authorize(ctx, "network:update_network", target(network))
        for key in ("shared", "router:external"):
            if key in data:
                policy.authorize(ctx, f"network:update_network:{key}", target(network))
        current = {"provider:network_type": network.network_type,
                   "provider:physical_network": network.physical_network,
                   "provider:segmentation_id": network.segmentation_id}
        for key in PROVIDER:
            if key in data:
                policy.authorize(ctx, f"network:update_network:{key}", target(network))
                if data[key] != current[key]:
                    raise InvalidInput("Plugin does not support updating provider "
                                       "attributes")
        if "name" in data:
            network.name = attrs.string(data, "name")
        if "description" in data:
            network.description = attrs.string(data, "description")
        if "admin_state_up" in data:
            network.admin_state_up = attrs.boolean(data, "admin_state_up", True)
        if "port_security_enabled" in data:
            network.port_security_enabled = attrs.boolean(data, "port_security_enabled", True)
        if "mtu" in data:
            network.mtu = _mtu(data, rt.settings, network.network_type)
        if "shared" in data:
            await _set_wildcard(s, network, "access_as_shared",
                                attrs.boolean(data, "shared", False))
            network.shared = attrs.boolean(data, "shared", False)
        if "router:external" in data:
            on = attrs.boolean(data, "router:external", False)
            await _set_wildcard(s, network, "access_as_external", on)
            network.router_external = on
        network.revision_number += 1
    async with rt.db.session() as s:
        return await fetch(s, ctx, network_id)


async def _set_wildcard(s: AsyncSession, network: Network, action: str, on: bool) -> None:
    row = await s.scalar(select(NetworkRbac).where(
        NetworkRbac.object_type == "network", NetworkRbac.object_id == network.id,
        NetworkRbac.target_tenant == WILDCARD, NetworkRbac.action == action))
    if on and row is None:
        s.add(NetworkRbac(object_type="network", object_id=network.id,
                          project_id=network.project_id, target_tenant=WILDCARD,
                          action=action))
    elif not on and row is not None:
        if action == "access_as_shared" and await stranded(s, network, WILDCARD):
            raise InvalidSharedSetting(network.id)
        await s.delete(row)


async def stranded(s: AsyncSession, network: Network, target_tenant: str) -> list[str]:
    """Projects whose ports on ``network`` lose access if the access_as_shared entry for
    ``target_tenant`` goes."""
    users = await foreign_ports(s, network, None if target_tenant == WILDCARD
                                else [target_tenant])
    if not users:
        return []
    others = set((await s.scalars(select(NetworkRbac.target_tenant).where(
        NetworkRbac.object_type == "network", NetworkRbac.object_id == network.id,
        NetworkRbac.action == "access_as_shared",
        NetworkRbac.target_tenant != target_tenant))).all())
    if WILDCARD in others:
        return []
    return [p for p in users if p not in others]


# --- delete ----------------------------------------------------------------------
async def _drop_free_floating_ips(s: AsyncSession, network_id: str) -> int:
    """Neutron's delete_disassociated_floatingips, before an external network goes:
    its floating IPs that no port holds go with it (an associated one keeps it in use)."""
    free = list(await s.scalars(select(FloatingIP).where(
        FloatingIP.floating_network_id == network_id, FloatingIP.fixed_port_id.is_(None))))
    for fip in free:
        await s.execute(delete(IPAllocation).where(IPAllocation.port_id == fip.floating_port_id))
        await s.execute(delete(NetworkPort).where(NetworkPort.id == fip.floating_port_id))
        await s.delete(fip)
    return len(free)


async def remove(rt: Runtime, ctx: RequestContext, network_id: str) -> None:
    policy.authorize(ctx, "network:get_network")
    async with rt.db.session() as s:
        network = await fetch(s, ctx, network_id, for_update=True)
        policy.authorize(ctx, "network:delete_network", target(network))
        dropped = await _drop_free_floating_ips(s, network.id) if network.router_external else 0
        busy = await s.scalar(select(NetworkPort.id).where(
            NetworkPort.network_id == network.id, NetworkPort.device_owner != DHCP_OWNER
        ).limit(1))
        if busy is not None:
            raise NetworkInUse(network.id)
        await s.execute(delete(IPAllocation).where(IPAllocation.network_id == network.id))
        await s.execute(delete(NetworkPort).where(NetworkPort.network_id == network.id))
        await s.execute(delete(Subnet).where(Subnet.network_id == network.id))
        await s.execute(delete(NetworkRbac).where(NetworkRbac.object_type == "network",
                                                  NetworkRbac.object_id == network.id))
        await s.execute(delete(Network).where(Network.id == network.id))
    if dropped:
        wakeup.wake()


# --- for integration ---------------------------------------------------------------
async def find_network(db: Database, name_or_id: str) -> Network:
    """The network with this id, or the only one with this name; NetworkNotFound if
    none, 409 if the name is ambiguous."""
    async with db.session() as s:
        network = await s.scalar(select(Network).where(Network.id == name_or_id))
        if network is not None:
            return network
        found = list((await s.scalars(select(Network).where(
            Network.name == name_or_id).limit(2))).all())
    if not found:
        raise NetworkNotFound(name_or_id)
    if len(found) > 1:
        raise Conflict(f"Multiple networks match name {name_or_id}; use the network's id.")
    return found[0]


async def create_many(rt: Runtime, ctx: RequestContext, items: list[dict[str, Any]]
                      ) -> list[Network]:
    return await create_all(lambda data: create(rt, ctx, data),
                            lambda n: remove(rt, service_context(ctx.request_id), n.id), items)
