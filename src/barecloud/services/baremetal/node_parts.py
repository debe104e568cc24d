"""What API 1.81-1.89 added around a node: its inventory, children, firmware and
virtual media, and the list of shards.

- The inventory (1.81) is what in-band inspection last read from the agent
  (conductor/workflows.py stores it); a node never inspected in band has none
  (404, as Ironic's NodeInventoryNotRecorded).
- Children (1.83) are the nodes whose ``parent_node`` is this one.
- Firmware components (1.86): no firmware interface of barecloud's caches any.
- Virtual media (1.89): no management interface of barecloud's attaches any
  (its redfish driver does not drive VirtualMedia), so an attach or detach of
  a node it may see answers Ironic's UnsupportedDriverExtension (400).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, select

from barecloud.db.models import Node, NodeInventory
from barecloud.drivers import noop
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import nodes
from barecloud.services.baremetal.schemas import VMEDIA_DEVICES
from barecloud.services.context import RequestContext, Runtime

# Ironic's image_publisher.VMEDIA_SUPPORTED_URL_SCHEMES.
VMEDIA_SCHEMES = ("http", "https", "nfs", "cifs")


async def shards(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    policy.authorize(ctx, "baremetal:shards:get")
    async with rt.db.session() as s:
        rows = (await s.execute(select(func.count(Node.id), Node.shard)
                                .group_by(Node.shard))).all()
    return [{"name": str(shard), "count": int(count)}
            for count, shard in sorted(rows, key=lambda r: r[0], reverse=True)]


async def inventory(rt: Runtime, ctx: RequestContext, ident: str) -> dict[str, Any]:
    async with rt.db.session() as s:
        node = await nodes.find_for(s, ctx, ident, "baremetal:node:inventory:get",
                                    traits=False)
        row = await s.get(NodeInventory, node.id)
    if row is None:
        raise NotFound(f"Inventory not recorded for node {node.uuid}")
    return {"inventory": row.inventory, "plugin_data": row.plugin_data}


async def children(rt: Runtime, ctx: RequestContext, ident: str) -> list[str]:
    async with rt.db.session() as s:
        node = await nodes.find_for(s, ctx, ident, traits=False)
        return list((await s.scalars(select(Node.uuid).where(Node.parent_node == node.uuid)
                                     .order_by(Node.id))).all())


async def firmware(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    async with rt.db.session() as s:
        await nodes.find_for(s, ctx, ident, "baremetal:node:firmware:get", traits=False)


async def attach_vmedia(rt: Runtime, ctx: RequestContext, ident: str,
                        body: dict[str, Any]) -> None:
    scheme = urlparse(body["image_url"]).scheme
    if scheme not in VMEDIA_SCHEMES:
        raise InvalidParameter(f"Unsupported or missing URL scheme: {scheme}")
    async with rt.db.session() as s:
        node = await nodes.find_for(s, ctx, ident, "baremetal:node:vmedia:attach",
                                    traits=False)
    raise InvalidParameter(noop.unsupported(node.driver, "attach_virtual_media"))


async def detach_vmedia(rt: Runtime, ctx: RequestContext, ident: str,
                        device_types: str | None) -> None:
    wanted = [d.strip() for d in (device_types or "").split(",") if d.strip()]
    invalid = [d for d in wanted if d not in VMEDIA_DEVICES]
    if invalid:
        raise InvalidParameter(f"Invalid device type(s) {', '.join(invalid)} (valid are "
                               f"{', '.join(VMEDIA_DEVICES)})")
    async with rt.db.session() as s:
        node = await nodes.find_for(s, ctx, ident, "baremetal:node:vmedia:detach",
                                    traits=False)
    raise InvalidParameter(noop.unsupported(node.driver, "detach_virtual_media"))
