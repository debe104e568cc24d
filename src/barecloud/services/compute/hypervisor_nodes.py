"""Turning machines into hypervisors, and back.

An operator (or a project, for the machines its active lease holds) names
nodes; each gets a hypervisor row and a credential, and all of them are
deployed as one deploy batch with the hypervisor image
(``Settings.hypervisor_image``) and a config drive whose
``vendor_data.json`` carries the service's URL and the host's credential
(``barecloud_host_agent``), which the image's first boot hands to the host
agent.  The credential travels only inside the deploy, as user data does
(masked in every API answer); the hypervisor row keeps its digest.  The node
holds the hypervisor's UUID as its ``instance_uuid`` (so no scheduler takes
it, and an operator sees what it became); the hypervisor is ``new`` until
its agent first reports.

The host's first free cabled NIC gets a port on the hypervisor network
(``Settings.hypervisor_network``, by default the provisioning network, where
the service already listens for machines), as a server's VIF: the deploy's
last network step binds its switch port there, so its agent can reach the
service, and the config drive's ``network_data.json`` its static address
there (barecloud's boot DHCP answers only machines being provisioned, so the
hypervisor image configures that NIC from the drive).  That network is the
machines' (hostile): the agent's calls carry its credential and its image
URLs are signed, so nothing more is had there.

Removal (vm_hosts.delete) undeploys the node, which is then cleaned.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from barecloud import states
from barecloud.conductor import batches
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.lease_models import HostAllocation, Lease, ReservableHost
from barecloud.db.models import Image, Node, bump
from barecloud.db.network_models import Network
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.hostagent.firstboot import VENDOR_KEY
from barecloud.services import policy
from barecloud.services.baremetal import node_states
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.compute import host_credentials
from barecloud.services.compute.hypervisors import DEFAULT_ZONE, zone_of
from barecloud.services.compute.servers import reservation_id
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import binding, vifs
from barecloud.services.network import networks as network_service
from barecloud.services.tenancy import project_of, service_context

PORT_OWNER = "compute:hypervisor"  # the device_owner of a hypervisor's own port


async def _image(rt: Runtime) -> Image:
    wanted = rt.settings.hypervisor_image
    async with rt.db.session() as s:
        column = Image.uuid if UUID_RE.match(wanted) else Image.name
        image = await s.scalar(select(Image).where(column == wanted, Image.status == "active")
                               .order_by(Image.created_at.desc()).limit(1))
    if image is None:
        raise InvalidParameter(
            f"There is no active hypervisor image {wanted!r}: upload one (built by "
            "scripts/build-hypervisor-image) or set BARECLOUD_HYPERVISOR_IMAGE.")
    return image


async def _leased(rt: Runtime, project: str, node_uuids: list[str]) -> set[str]:
    """Which of the nodes an ACTIVE lease of ``project`` holds now."""
    async with rt.db.session() as s:
        return set((await s.scalars(
            select(ReservableHost.node_uuid)
            .join(HostAllocation, HostAllocation.host_id == ReservableHost.id)
            .join(Lease, Lease.id == HostAllocation.lease_id)
            .where(ReservableHost.node_uuid.in_(node_uuids), HostAllocation.live.is_(True),
                   Lease.status == states.LEASE_ACTIVE, Lease.project_id == project))).all())


async def _reservable(rt: Runtime, node_uuids: list[str]) -> set[str]:
    async with rt.db.session() as s:
        return set((await s.scalars(select(ReservableHost.node_uuid).where(
            ReservableHost.node_uuid.in_(node_uuids)))).all())


async def _nodes(rt: Runtime, idents: list[str]) -> list[Node]:
    found: list[Node] = []
    async with rt.db.session() as s:
        for ident in idents:
            column = Node.uuid if UUID_RE.match(ident) else Node.name
            node = await s.scalar(select(Node).where(column == ident))
            if node is None:
                raise InvalidParameter(f"Node {ident} could not be found.")
            found.append(node)
    if len({n.id for n in found}) != len(found):
        raise InvalidParameter("A node is named more than once.")
    return found


async def _owner(rt: Runtime, ctx: RequestContext, nodes: list[Node]) -> str | None:
    """Who the hypervisors belong to: the project whose active lease holds the
    nodes, or nobody (every project's VMs) for an admin's free machines."""
    uuids = [n.uuid for n in nodes]
    reservable = await _reservable(rt, uuids)
    if not reservable:
        policy.authorize(ctx, "compute:hypervisors:create")
        return None
    project = project_of(ctx)
    policy.authorize(ctx, "compute:hypervisors:create_on_leased", {"project_id": project})
    held = await _leased(rt, project, uuids)
    missing = [n.name or n.uuid for n in nodes if n.uuid not in held]
    if missing:
        raise Forbidden(f"Node(s) {', '.join(missing)} are not held by an active lease of "
                        "this project.")
    return project


async def _network(rt: Runtime) -> Network | None:
    """The hypervisor network; None where machines' NICs are not moved."""
    ref = rt.settings.hypervisor_network or rt.settings.provisioning_network
    if not ref:
        return None
    try:
        return await network_service.find_network(rt.db, ref)
    except NotFound:
        raise Conflict(f"The hypervisor network {ref!r} does not exist: create it, or set "
                       "BARECLOUD_HYPERVISOR_NETWORK to one that does.") from None


async def create_on_nodes(rt: Runtime, ctx: RequestContext,
                          data: dict[str, Any]) -> list[Hypervisor]:
    """``data`` is host_schemas.CREATE_HYPERVISOR's ``hypervisor``, with ``nodes``."""
    nodes = await _nodes(rt, list(data["nodes"]))
    owner = await _owner(rt, ctx, nodes)
    image = await _image(rt)
    network = await _network(rt)
    for n in nodes:
        if n.provision_state != states.AVAILABLE or n.maintenance or n.instance_uuid or (
                n.reservation is not None):
            raise Conflict(f"Node {n.name or n.uuid} is not available (it is "
                           f"{n.provision_state}{', in maintenance' if n.maintenance else ''}"
                           f"{', in use' if n.instance_uuid else ''}).")
        if network is not None:
            await vifs.free_nic(rt, n)  # where its agent will reach the service
    batch = reservation_id() if len(nodes) > 1 else None
    made: list[tuple[Hypervisor, str, Node]] = []
    async with rt.db.session() as s:
        for n in nodes:
            host = Hypervisor(hostname=n.name or n.uuid, node_uuid=n.uuid, owner=owner,
                              availability_zone=data.get("availability_zone") or zone_of(n)
                              or DEFAULT_ZONE, enabled=True)
            credential = await host_credentials.enrol(s, host)
            taken = await s.execute(update(Node).where(
                Node.id == n.id, Node.provision_state == states.AVAILABLE,
                Node.instance_uuid.is_(None), Node.reservation.is_(None),
                Node.maintenance.is_(False))
                .values(instance_uuid=host.uuid, instance_info={
                    "image_source": image.uuid, "display_name": f"hypervisor {host.hostname}",
                    "project_id": owner or ""}, **bump())
                .execution_options(synchronize_session=False))
            if not taken.rowcount:  # type: ignore[attr-defined]
                raise Conflict(f"Node {n.name or n.uuid} was taken meanwhile.")
            made.append((host, credential, n))
        if batch is not None:
            await batches.create(s, rt.settings, uuid_=batch,
                                 delivery=rt.settings.deploy_batch_delivery,
                                 expected=len(nodes), project_id=owner)
    ctx_ = service_context(f"req-hypervisors-{batch or made[0][0].uuid}")
    for i, (host, credential, n) in enumerate(made):
        try:
            drive = _drive(rt, host, credential)
            if network is not None:
                await vifs.plug(rt, host.uuid, PORT_OWNER, network, n)
                drive["network_data"] = await vifs.device_network_data(rt, host.uuid, n.uuid)
            await node_states.set_provision_state(
                rt, ctx_, n.uuid, "active", {"configdrive": drive}, batch=batch)
        except Exception:
            await _undo(rt, [h for h, _, _ in made[i:]], batch)
            raise
    return [h for h, _, _ in made]


async def _unplug(rt: Runtime, host: Hypervisor) -> None:
    await vifs.unplug(rt, host.uuid, host.node_uuid)
    await binding.delete_ports_of_device(rt.db, host.uuid)


async def _undo(rt: Runtime, hosts: list[Hypervisor], batch: str | None) -> None:
    """A deploy request refused (no conductor, say): the hosts whose deploy did
    not start are forgotten and their nodes let go, as if never asked for."""
    for host in hosts:
        await _unplug(rt, host)
    async with rt.db.session() as s:
        for host in hosts:
            await s.execute(update(Node).where(Node.uuid == host.node_uuid,
                                               Node.instance_uuid == host.uuid,
                                               Node.provision_state == states.AVAILABLE)
                            .values(instance_uuid=None, instance_info={}, **bump())
                            .execution_options(synchronize_session=False))
            await s.execute(delete(Hypervisor).where(Hypervisor.id == host.id))
        for _ in hosts:
            await batches.expect_fewer(s, batch)


def _drive(rt: Runtime, host: Hypervisor, credential: str) -> dict[str, Any]:
    return {
        "meta_data": {"uuid": host.uuid, "name": host.hostname, "hostname": host.hostname,
                      "availability_zone": host.availability_zone, "meta": {
                          "role": "barecloud-hypervisor"}, "public_keys": {}},
        "vendor_data": {VENDOR_KEY: {"url": rt.settings.base_url, "credential": credential}},
    }


async def undeploy(rt: Runtime, host: Hypervisor) -> None:
    """Give the machine back: undeploy (then cleaning), and let go of it."""
    if host.node_uuid is None:
        return
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == host.node_uuid))
    if node is None or node.instance_uuid != host.uuid:
        return
    undeployable = (states.ACTIVE, states.DEPLOYFAIL, states.DEPLOYWAIT, states.ERROR)
    if node.provision_state not in (*undeployable, states.AVAILABLE):
        raise Conflict(f"Node {node.name or node.uuid} is {node.provision_state}: try again "
                       "once its deploy has ended.")
    await _unplug(rt, host)  # as a server's VIFs go before its node is undeployed
    if node.provision_state in undeployable:
        await node_states.set_provision_state(
            rt, service_context(f"req-hypervisor-remove-{host.uuid}"), node.uuid, "deleted", {})
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == node.uuid,
                                           Node.instance_uuid == host.uuid)
                        .values(instance_uuid=None, instance_info={}, **bump())
                        .execution_options(synchronize_session=False))

