"""Server external events (Nova's ``os-server-external-events``): what other services tell
Compute about its servers (Neutron's port changes, Ironic's power updates).

Each event is answered as Nova answers it: ``completed``/200 when its server has a
host, ``failed`` with 404 (no such server), 422 (not on a host yet) or 400
(``volume-extended`` without its tag); 207 when any failed, 404 when none was
accepted.  What an accepted event does here: ``network-changed`` and the VIF events
re-read the server's addresses from its Neutron ports (Nova refreshes its network
info cache); a ``power-update`` needs nothing, since barecloud follows the node's
power state itself (services/compute/sync.py); volume and accelerator events have
no volumes or accelerators to act on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from barecloud.db.compute_models import Server
from barecloud.db.network_models import NetworkPort
from barecloud.errors import NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import networks as network_service
from barecloud.services.network.vifs import add_addresses

NETWORK_EVENTS = ("network-changed", "network-vif-plugged", "network-vif-unplugged",
                  "network-vif-deleted")


def _outcome(event: dict[str, Any], server: Server | None) -> int:
    if server is None:
        return 404
    if event["name"] == "volume-extended" and event.get("tag") is None:
        return 400
    if server.node_uuid is None and server.hypervisor_id is None:
        return 422
    return 200


async def create(rt: Runtime, ctx: RequestContext,
                 events: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
    """The events as answered, and the status of the whole answer (200 or 207)."""
    policy.authorize(ctx, "compute:external_events:create")
    uuids = {e["server_uuid"].lower() for e in events}
    async with rt.db.session() as s:
        servers = {sv.uuid: sv for sv in (await s.scalars(select(Server).where(
            Server.uuid.in_(uuids), Server.deleted.is_(False)))).all()}
    answered, refresh = [], set()
    for event in events:
        server = servers.get(event["server_uuid"].lower())
        code = _outcome(event, server)
        answered.append({**event, "status": "completed" if code == 200 else "failed",
                         "code": code})
        if code == 200 and server is not None and event["name"] in NETWORK_EVENTS:
            refresh.add(server.uuid)
    if not any(e["code"] == 200 for e in answered):
        raise NotFound("No instances found for any event")
    for uuid in sorted(refresh):
        await refresh_addresses(rt, uuid)
    return (200 if all(e["code"] == 200 for e in answered) else 207), answered


async def refresh_addresses(rt: Runtime, server_uuid: str) -> None:
    """``addresses`` as the server's ports now are (a server with none keeps its own:
    a machine on the provisioning network shows its NICs' recorded addresses)."""
    async with rt.db.session() as s:
        ports = (await s.scalars(select(NetworkPort).where(
            NetworkPort.device_id == server_uuid)
            .order_by(NetworkPort.created_at, NetworkPort.id))).all()
    if not ports:
        return
    addresses: dict[str, list[dict[str, Any]]] = {}
    for port in ports:
        add_addresses(addresses, await network_service.find_network(rt.db, port.network_id),
                      port)
    async with rt.db.session() as s:
        await s.execute(update(Server).where(Server.uuid == server_uuid,
                                             Server.deleted.is_(False))
                        .values(addresses=addresses)
                        .execution_options(synchronize_session=False))
