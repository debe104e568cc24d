"""Compute service tests: a runtime with a conductor, nodes, an image, a flavor, servers."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import select

from barecloud import states
from barecloud.conductor.engine import Conductor
from barecloud.config import Settings
from barecloud.db.compute_models import Server
from barecloud.db.models import Node, NodeTrait, Port
from barecloud.db.session import Database
from barecloud.services.compute import flavors, quotas, servers, sync
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images
from barecloud.services.network import networks, subnets
from barecloud.services.tenancy import NOAUTH_PROJECT

ADMIN = RequestContext(request_id="req-test", project=NOAUTH_PROJECT)


@contextlib.asynccontextmanager
async def running(db: Database, settings: Settings) -> AsyncIterator[Runtime]:
    conductor = Conductor(db, settings)
    await conductor.start()
    try:
        yield Runtime(db, settings, local_conductor=conductor)
    finally:
        await conductor.stop()


async def add_node(db: Database, name: str, *, resource_class: str | None = "baremetal",
                   traits: tuple[str, ...] = (), **values: Any) -> str:
    """A fake-hardware node written straight into the table, ``available`` by default."""
    node_uuid = str(uuid.uuid4())
    values.setdefault("provision_state", states.AVAILABLE)
    values.setdefault("power_state", states.POWER_OFF)
    values.setdefault("maintenance", False)
    async with db.session() as s:
        node = Node(uuid=node_uuid, name=name, driver="fake-hardware",
                    resource_class=resource_class, conductor_group="",
                    driver_info=values.pop("driver_info", {}),
                    properties=values.pop("properties", {}), instance_info={},
                    driver_internal_info={}, extra={}, network_data={}, **values)
        s.add(node)
        await s.flush()
        s.add_all(NodeTrait(node_id=node.id, trait=t) for t in traits)
    return node_uuid


async def cabled_node(db: Database, name: str, macs: tuple[str, ...]) -> str:
    """A node whose NICs are cabled to ports ``<name>-<i>`` of switch ``tor``."""
    node_uuid = await add_node(db, name)
    async with db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
        assert node is not None
        for i, mac in enumerate(macs):
            s.add(Port(address=mac, node_id=node.id, pxe_enabled=i == 0, extra={},
                       internal_info={}, local_link_connection={
                           "switch_info": "tor", "port_id": f"{name}-{i}",
                           "switch_id": "00:00:00:00:00:01"}))
    return node_uuid


async def network(rt: Runtime, name: str, cidr: str) -> str:
    """A network of the admin's, with one IPv4 subnet."""
    net = await networks.create(rt, ADMIN, {"name": name})
    await subnets.create(rt, ADMIN, {"network_id": net.id, "cidr": cidr,
                                        "ip_version": 4})
    return net.id


async def image(rt: Runtime, data: bytes = b"\x00" * 65536) -> str:
    img = await images.create(rt, ADMIN, {"name": "img", "disk_format": "raw",
                                          "container_format": "bare",
                                          "visibility": "public"})

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await images.upload(rt, ADMIN, img.uuid, chunks())
    return img.uuid


async def flavor(rt: Runtime, name: str = "bm", **specs: str) -> str:
    f = await flavors.create(rt, ADMIN, {"flavor": {"name": name, "ram": 1024, "vcpus": 1,
                                                    "disk": 0}}, (2, 96))
    await flavors.set_specs(rt, ADMIN, f.flavorid,
                            specs or {"resources:CUSTOM_BAREMETAL": "1"})
    return f.flavorid


async def unlimited(rt: Runtime) -> None:
    await quotas.update(rt, ADMIN, NOAUTH_PROJECT, {"quota_set": {
        "instances": -1, "cores": -1, "ram": -1}}, (2, 96))


async def create(rt: Runtime, image_id: str, flavor_id: str, name: str = "s",
                 **extra: Any) -> list[str]:
    body = {"server": {"name": name, "imageRef": image_id, "flavorRef": flavor_id,
                       "networks": "none", **extra}}
    created = await servers.create(rt, ADMIN, body, (2, 96))
    return [s.uuid for s in created.servers]


async def server(db: Database, server_uuid: str) -> Server:
    async with db.session() as s:
        row = await s.scalar(select(Server).where(Server.uuid == server_uuid))
        assert row is not None
        return row


async def all_servers(db: Database) -> list[Server]:
    async with db.session() as s:
        return list((await s.scalars(select(Server).order_by(Server.id))).all())


async def settle(rt: Runtime, *, holder: str = "test", timeout: float = 60.0,
                 until: Any = None) -> list[Server]:
    """Run reconciler passes until no server is building or busy (or ``until`` holds)."""
    deadline = time.monotonic() + timeout
    while True:
        await sync.sync_once(rt, holder)
        rows = await all_servers(rt.db)
        busy = [r for r in rows if not r.deleted and (
            r.vm_state == "building" or r.task_state is not None or r.pending is not None)]
        if (until(rows) if until else not busy):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError("servers did not settle: " + ", ".join(
                f"{r.uuid} {r.vm_state}/{r.task_state}/{r.pending} node={r.node_uuid}"
                for r in busy))
        await asyncio.sleep(0.05)


async def nodes_by_uuid(db: Database) -> dict[str, Node]:
    async with db.session() as s:
        return {n.uuid: n for n in (await s.scalars(select(Node))).all()}
