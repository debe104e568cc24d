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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from barecloud.conductor import image_urls
from barecloud.conductor.mailbox import MAILBOX
from barecloud.db import admission
from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import UP, Hypervisor
from barecloud.db.models import Image, utcnow
from barecloud.db.network_models import NetworkPort
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
RELEASED = "released"


@dataclass(frozen=True)
class _Reported:
    """What a report's transitions read of a server (vm_states.Seen, _follow): a
    few columns, not the whole row (its flavor, metadata, addresses... JSON
    decoded, an ORM object built), for the reports every host sends after each
    change."""

    id: int
    uuid: str
    action_seq: int
    pending: str | None
    pending_sent: bool
    vm_state: str
    task_state: str | None
    power_state: int
    fault: dict[str, Any] | None


# Built once (a host reports after each change): the heartbeat, and its servers.
_REPORTED_HOST = (update(Hypervisor).where(Hypervisor.id == bindparam("host_id")).values(
    vcpus=bindparam("cap_vcpus"), memory_mb=bindparam("cap_memory_mb"),
    disk_gb=bindparam("cap_disk_gb"), hypervisor_type=bindparam("kind"),
    hypervisor_version=bindparam("version"), host_ip=bindparam("ip"),
    running_vms=bindparam("running"), uptime=bindparam("up_for"),
    applied_generation=bindparam("applied"), reported_at=bindparam("now"), state=UP,
    fault=None).returning(Hypervisor.generation).execution_options(synchronize_session=False))
_REPORTED_SERVERS = select(
    Server.id, Server.uuid, Server.action_seq, Server.pending, Server.pending_sent,
    Server.vm_state, Server.task_state, Server.power_state, Server.fault).where(
    Server.hypervisor_id == bindparam("host_id"), Server.deleted.is_(False),
    Server.uuid.in_(bindparam("uuids", expanding=True)))


async def report(rt: Runtime, host: Hypervisor, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` fits schemas.HOST_REPORT."""
    cap = body["capacity"]
    items = {str(v["uuid"]).lower(): Report.of(v) for v in body.get("vms") or []}
    running = sum(1 for r in items.values() if r.state == vm_states.RUNNING)
    async with rt.db.session() as s:
        generation = await s.scalar(_REPORTED_HOST, {
            "host_id": host.id, "cap_vcpus": cap["vcpus"], "cap_memory_mb": cap["memory_mb"],
            "cap_disk_gb": cap["disk_gb"],
            "kind": body.get("hypervisor_type") or "QEMU",
            "version": body.get("hypervisor_version") or 0,
            "ip": body.get("host_ip"), "running": running, "up_for": body.get("uptime"),
            "applied": body.get("applied_generation") or 0, "now": utcnow()})
        servers = [_Reported(*row) for row in (await s.execute(_REPORTED_SERVERS, {
            "host_id": host.id, "uuids": list(items)})).all()] if items else []
        # One transaction for the whole report: a commit each was most of a
        # storm's time on PostgreSQL (each write is still fenced on its own).
        followed = [await _follow(s, host, x, items[x.uuid]) for x in servers]
        if any(change is not None for change in followed):
            await hosts_wakeup.notify(s, host.uuid)
    if any(change is not None for change in followed):
        hosts_wakeup.wake(host.uuid)  # a room given back moved the generation
    gone = [x.uuid for x, change in zip(servers, followed, strict=True) if change == DELETE]
    if gone:
        async with rt.db.session() as s:
            rows = list((await s.scalars(select(Server).where(Server.uuid.in_(gone)))).all())
        for server in rows:
            vm_consoles.forget(rt, server.uuid)
            await vm_networks.unwire(rt, server)
    return {"hypervisor": {"uuid": host.uuid, "hostname": host.hostname},
            "generation": generation, "report_interval": rt.settings.host_report_interval}


async def _follow(s: AsyncSession, host: Hypervisor, server: _Reported,
                  item: Report) -> str | None:
    """Carry one VM's report to its server in ``s``: DELETE if the server is now
    gone, RELEASED if its room went back to the host, None if neither."""
    change = vm_states.transition(server, item, host.hostname)
    if change is None:
        return None
    fence = (Server.id == server.id, Server.deleted.is_(False),
             Server.action_seq == server.action_seq,
             Server.pending.is_not_distinct_from(server.pending),
             Server.hypervisor_id == host.id)
    if change == DELETE:
        now = utcnow()
        fresh = await s.scalar(select(Server).where(*fence))
        released = fresh is not None and await vm_placement.release(
            s, fresh, deleted=True, deleted_at=now, terminated_at=now,
            vm_state=st.DELETED, task_state=None, pending=None, pending_sent=False,
            power_state=st.NOSTATE)
        return DELETE if released else None
    assert isinstance(change, dict)
    changed = await s.execute(update(Server).where(*fence).values(**change)
                              .execution_options(synchronize_session=False))
    if changed.rowcount and change.get("vm_state") == st.ERROR and (  # type: ignore[attr-defined]
            server.vm_state == st.BUILDING):
        # A build that failed gives its room back (Nova frees a failed build's
        # allocation); the row keeps its fault.
        fresh = await s.scalar(select(Server).where(Server.id == server.id))
        if fresh is not None and await vm_placement.release(s, fresh):
            return RELEASED
    return None


# Built once: every host's long-poll runs them after each change of its list.
_GENERATION = select(Hypervisor.generation).where(Hypervisor.id == bindparam("host_id"))
# A VM whose ports are being bound is not the host's yet; what an entry never
# shows is not read (JSON decoded per row).
_DESIRED = (select(Server).options(*(defer(c, raiseload=True) for c in (
    Server.attempts, Server.scheduler_hints, Server.fault, Server.addresses,
    Server.sync_holder, Server.sync_until)))
    .where(Server.hypervisor_id == bindparam("host_id"), Server.deleted.is_(False),
           Server.task_state.is_distinct_from(st.NETWORKING)).order_by(Server.id))

_IMAGES = select(Image.uuid, Image.raw_size, Image.raw_sha512).where(
    Image.uuid.in_(bindparam("images", expanding=True)))
_WIRED = select(NetworkPort.device_id).where(
    NetworkPort.device_id.in_(bindparam("devices", expanding=True)),
    NetworkPort.binding_host_id != "")


async def desired(rt: Runtime, host: Hypervisor, since: int, wait: float) -> dict[str, Any]:
    """What the host should run, once its generation is above ``since`` (or after
    ``wait`` seconds, with the same generation)."""
    until = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    with MAILBOX.listening(hosts_wakeup.key(host.uuid)) as changed:
        while True:
            changed.clear()  # a change from now on wakes the wait below
            async with rt.db.session() as s:
                generation = int(await s.scalar(_GENERATION, {"host_id": host.id}) or 0)
                if generation > since or time.monotonic() >= until or MAILBOX.closed:
                    servers = list((await s.scalars(_DESIRED, {"host_id": host.id})).all())
                    images = {i.uuid: i for i in (await s.execute(_IMAGES, {
                        "images": list({x.image_ref for x in servers})})).all()}
                    # Only a VM with bound ports has network data to read (a query each).
                    wired = set((await s.scalars(_WIRED, {
                        "devices": [x.uuid for x in servers]})).all()) if servers else set()
                    nics = await vm_networks.nics(s, rt, host, servers) if wired else {}
                    break
            left = until - time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with admission.paused(), asyncio.timeout(
                        min(left, hosts_wakeup.recheck(rt))):
                    await changed.wait()
    urls: dict[str, dict[str, Any]] = {}
    for x in servers:
        if x.image_ref not in urls:
            urls[x.image_ref] = _image(rt, host, x.image_ref, images.get(x.image_ref))
    return {"generation": generation,
            "vms": [await _entry(rt, x, urls[x.image_ref], x.uuid in wired,
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


async def _entry(rt: Runtime, server: Server, image: dict[str, Any], wired: bool,
                 nics: list[dict[str, Any]]) -> dict[str, Any]:
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
        "image": image,
        "config_drive": drive, "nics": nics,
    }


def _image(rt: Runtime, host: Hypervisor, image_id: str,
           image: Row[str, int | None, str | None] | None) -> dict[str, Any]:
    key = image_urls.load_key(rt.settings.data_dir)
    expires = int(time.time() + rt.settings.image_url_margin)
    url = image_urls.signed_url(key, rt.settings.base_url, image_id, HOST_SUBJECT + host.uuid,
                                expires)
    found: dict[str, Any] = {"id": image_id, "url": url}
    if image is not None:  # /boot/images serves the raw bytes, qcow2 images converted
        found.update(disk_format="raw", size=image.raw_size, sha512=image.raw_sha512)
    return found
