"""Demo machines for the quick start: fake-hardware nodes brought to available.

The loopback lab with real IPMI and Redfish BMCs replaces these when it lands
(issue 3); until then ``--lab N`` gives a new user machines to play with.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from barecloud import states
from barecloud.db.models import Node
from barecloud.services import nodes, ports
from barecloud.services.context import RequestContext, Runtime


async def enroll_demo(rt: Runtime, count: int) -> list[str]:
    ctx = RequestContext(request_id="req-demo")
    made: list[str] = []
    for i in range(1, count + 1):
        name = f"lab-{i:04d}"
        async with rt.db.session() as s:
            if await s.scalar(select(Node.id).where(Node.name == name)):
                continue
        node = await nodes.create(rt, ctx, {
            "name": name, "driver": "fake-hardware", "resource_class": "baremetal",
            "properties": {"cpus": 4, "memory_mb": 8192, "local_gb": 40, "cpu_arch": "x86_64"},
            "driver_info": {"fake_delay": 0.05},
        }, initial=states.ENROLL)
        await ports.create(rt, ctx, {"address": f"52:54:00:00:{i >> 8:02x}:{i & 255:02x}",
                                     "node_uuid": node.uuid})
        made.append(node.uuid)
    for verb, settled in (("manage", states.MANAGEABLE), ("provide", states.AVAILABLE)):
        for uuid in made:
            await nodes.set_provision_state(rt, ctx, uuid, verb, {})
        await _settle(rt, made, settled)
    return made


async def _settle(rt: Runtime, uuids: list[str], state: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with rt.db.session() as s:
            left = (await s.scalars(
                select(Node.uuid).where(Node.uuid.in_(uuids), Node.provision_state != state)
            )).all()
        if not left:
            return
        await asyncio.sleep(0.1)
