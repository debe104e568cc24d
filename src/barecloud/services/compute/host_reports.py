"""The service's side of the host agent's protocol (docs/design/host-agent-protocol.md).

``report``: the host's heartbeat, capacity and what its QEMUs say, carried
to its servers (vm_states.py) with writes fenced by the ``action_seq`` and
intent each was read with, so a request made meanwhile is never lost.
``desired``: the whole list of what the host should run, long-polled on the
host's ``generation``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.conductor import image_urls
from barecloud.conductor.mailbox import MAILBOX
from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import UP, Hypervisor
from barecloud.db.models import Image, utcnow
from barecloud.db.network_models import NetworkPort
from barecloud.services.baremetal.agent import poll_recheck
from barecloud.services.boot.images import HOST_SUBJECT
from barecloud.services.compute import (
    hosts_wakeup,
    scheduler,
    vm_consoles,
    vm_networks,
    vm_placement,
    vm_states,
)
from barecloud.services.compute import status as st
from barecloud.services.compute.vm_states import DELETE, Report
from barecloud.services.context import Runtime
from barecloud.services.network import vifs

MAX_WAIT = 30.0


async def report(rt: Runtime, host: Hypervisor, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` fits schemas.HOST_REPORT."""
    cap = body["capacity"]
    items = {str(v["uuid"]).lower(): Report.of(v) for v in body.get("vms") or []}
    running = sum(1 for r in items.values() if r.state == vm_states.RUNNING)
    async with rt.db.session() as s:
        await s.execute(update(Hypervisor).where(Hypervisor.id == host.id).values(
            vcpus=cap["vcpus"], memory_mb=cap["memory_mb"], disk_gb=cap["disk_gb"],
            hypervisor_type=body.get("hypervisor_type") or "QEMU",
            hypervisor_version=body.get("hypervisor_version") or 0,
            host_ip=body.get("host_ip"), running_vms=running, uptime=body.get("uptime"),
            applied_generation=body.get("applied_generation") or 0,
            reported_at=utcnow(), state=UP, fault=None,
        ).execution_options(synchronize_session=False))
        generation = await s.scalar(select(Hypervisor.generation)
                                    .where(Hypervisor.id == host.id))
        servers = list((await s.scalars(select(Server).where(
            Server.hypervisor_id == host.id, Server.deleted.is_(False),
            Server.uuid.in_(items)))).all()) if items else []
        # One transaction for the whole report: a commit each was most of a
        # storm's time on PostgreSQL (each write is still fenced on its own).
        gone = [x.uuid for x in servers if await _follow(s, host, x, items[x.uuid])]
    for server in servers:
        if server.uuid in gone:
            vm_consoles.forget(rt, server.uuid)
            await vm_networks.unwire(rt, server)
    return {"hypervisor": {"uuid": host.uuid, "hostname": host.hostname},
            "generation": generation, "report_interval": rt.settings.host_report_interval}


async def _follow(s: AsyncSession, host: Hypervisor, server: Server, item: Report) -> bool:
    """Carry one VM's report to its server in ``s``; True if the server is now gone."""
    change = vm_states.transition(server, item, host.hostname)
    if change is None:
        return False
    fence = (Server.id == server.id, Server.deleted.is_(False),
             Server.action_seq == server.action_seq,
             Server.pending.is_not_distinct_from(server.pending),
             Server.hypervisor_id == host.id)
    if change == DELETE:
        now = utcnow()
        fresh = await s.scalar(select(Server).where(*fence))
        return fresh is not None and await vm_placement.release(
            s, fresh, deleted=True, deleted_at=now, terminated_at=now,
            vm_state=st.DELETED, task_state=None, pending=None, pending_sent=False,
            power_state=st.NOSTATE)
    assert isinstance(change, dict)
    changed = await s.execute(update(Server).where(*fence).values(**change)
                              .execution_options(synchronize_session=False))
    if changed.rowcount and change.get("vm_state") == st.ERROR and (  # type: ignore[attr-defined]
            server.vm_state == st.BUILDING):
        # A build that failed gives its room back (Nova frees a failed build's
        # allocation); the row keeps its fault.
        fresh = await s.scalar(select(Server).where(Server.id == server.id))
        if fresh is not None:
            await vm_placement.release(s, fresh)
    return False


async def desired(rt: Runtime, host: Hypervisor, since: int, wait: float) -> dict[str, Any]:
    """What the host should run, once its generation is above ``since`` (or after
    ``wait`` seconds, with the same generation)."""
    until = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    with MAILBOX.listening(hosts_wakeup.key(host.uuid)) as changed:
        while True:
            changed.clear()  # a change from now on wakes the wait below
            async with rt.db.session() as s:
                generation = int(await s.scalar(select(Hypervisor.generation)
                                                .where(Hypervisor.id == host.id)) or 0)
                if generation > since or time.monotonic() >= until or MAILBOX.closed:
                    # A VM whose ports are being bound is not the host's yet.
                    servers = list((await s.scalars(select(Server).where(
                        Server.hypervisor_id == host.id, Server.deleted.is_(False),
                        Server.task_state.is_distinct_from(st.NETWORKING))
                        .order_by(Server.id))).all())
                    images = {i.uuid: i for i in (await s.scalars(select(Image).where(
                        Image.uuid.in_({x.image_ref for x in servers})))).all()}
                    # Only a VM with bound ports has network data to read (a query each).
                    wired = set((await s.scalars(select(NetworkPort.device_id).where(
                        NetworkPort.device_id.in_([x.uuid for x in servers]),
                        NetworkPort.binding_host_id != ""))).all()) if servers else set()
                    nics = await vm_networks.nics(s, rt, host, servers)
                    break
            left = until - time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, poll_recheck(rt))):
                    await changed.wait()
    return {"generation": generation,
            "vms": [await _entry(rt, host, x, images.get(x.image_ref), x.uuid in wired,
                                 nics.get(x.uuid, [])) for x in servers]}


def _power(server: Server) -> str:
    sent = server.pending_sent
    if server.pending == "delete" and sent:
        return "absent"
    if server.pending == "stop" and sent:
        return "off"
    if server.pending == "start" and sent:
        return "on"
    return "off" if server.vm_state == st.STOPPED else "on"


async def _entry(rt: Runtime, host: Hypervisor, server: Server, image: Image | None,
                 wired: bool, nics: list[dict[str, Any]]) -> dict[str, Any]:
    flavor = server.flavor or {}
    reboot = None
    if server.pending in ("reboot_soft", "reboot_hard") and server.pending_sent:
        reboot = server.pending.removeprefix("reboot_")
    drive = scheduler.configdrive(server)
    network = await vifs.network_data(rt, server) if wired else None
    if network is not None:
        drive["network_data"] = network
    ask = vm_placement.Ask.of(flavor)
    return {
        "uuid": server.uuid, "name": server.name, "seq": server.action_seq,
        "power": _power(server), "reboot": reboot,
        "flavor": {"vcpus": ask.vcpus, "memory_mb": ask.memory_mb, "disk_gb": ask.disk_gb},
        "image": _image(rt, host, server.image_ref, image),
        "config_drive": drive, "nics": nics,
    }


def _image(rt: Runtime, host: Hypervisor, image_id: str, image: Image | None) -> dict[str, Any]:
    key = image_urls.load_key(rt.settings.data_dir)
    expires = int(time.time() + rt.settings.image_url_margin)
    url = image_urls.signed_url(key, rt.settings.base_url, image_id, HOST_SUBJECT + host.uuid,
                                expires)
    found: dict[str, Any] = {"id": image_id, "url": url}
    if image is not None:  # /boot/images serves the raw bytes, qcow2 images converted
        found.update(disk_format="raw", size=image.raw_size, sha512=image.raw_sha512)
    return found
