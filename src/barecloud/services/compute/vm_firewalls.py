"""A change of what a VM's ports let through reaches its host: the host's generation.

The desired list carries each NIC's resolved rules (vm_networks.nics), so a
host re-applies them when its generation moves.  What changes them is many
things (a rule, a group's members, a port's addresses or port security, an
RBAC entry taken away, a remote group's members on another host), so rather
than bump hosts at each of those, a pass fingerprints the rules of every
host's VM ports and bumps the hosts whose fingerprint changed, in one
update fenced by the fingerprint it replaces (``firewall_digest``): several
API processes running the pass bump a host once per change.

One process runs the pass: the leader of ``vm-firewalls``
(:mod:`barecloud.conductor.leader`; on SQLite the service's one process),
every ``INTERVAL`` seconds and at once when a security-group change commits
(``security_groups.on_change``): in the leader itself, or in another API
process, which tells the leader by PostgreSQL NOTIFY on ``CHANNEL``.  A lost
NOTIFY (the lead passing on meanwhile) costs one interval; the fence keeps
two passes of a lead handing over from bumping a host twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable

from sqlalchemy import select, update

from barecloud.conductor.leader import Leader
from barecloud.conductor.wakeups import Channel
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.network_models import NetworkPort
from barecloud.services.background import Reconciler
from barecloud.services.compute import hosts_wakeup
from barecloud.services.context import Runtime
from barecloud.services.network import firewall
from barecloud.services.network import security_groups as groups_service

INTERVAL = 2.0
VNIC_TYPE = "normal"  # a VM's port (vm_networks.VNIC_TYPE)
LEADER_ROLE = "vm-firewalls"
CHANNEL = "barecloud_vm_firewalls"  # "a security group changed": wakes the leader


async def sync_once(rt: Runtime) -> list[str]:
    """Bump the hosts whose VM ports' rules changed since their last bump; their uuids."""
    async with rt.db.session() as s:
        rows = (await s.execute(
            select(Hypervisor.id, Hypervisor.uuid, Hypervisor.firewall_digest,
                   NetworkPort.id)
            .join(NetworkPort, NetworkPort.binding_host_id == Hypervisor.hostname)
            .where(NetworkPort.binding_vnic_type == VNIC_TYPE))).all()
        ports_of: dict[tuple[int, str], list[str]] = {}
        before: dict[int, str | None] = {}
        for host_id, host_uuid, digest, port_id in rows:
            ports_of.setdefault((host_id, host_uuid), []).append(port_id)
            before[host_id] = digest
        rules = await firewall.port_rules(s, [p for ps in ports_of.values() for p in ps])
        # Hosts that had ports at the last bump and have none now: back to None.
        emptied = (await s.execute(select(Hypervisor.id, Hypervisor.uuid).where(
            Hypervisor.firewall_digest.is_not(None),
            Hypervisor.id.not_in([h for h, _ in ports_of] or [-1])))).all()
        wanted: dict[tuple[int, str], str | None] = {(h, u): None for h, u in emptied}
        for (host_id, host_uuid), ports in ports_of.items():
            text = json.dumps([[p, firewall.as_json(rules.get(p))] for p in sorted(ports)],
                              sort_keys=True)
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            if digest != before[host_id]:
                wanted[(host_id, host_uuid)] = digest
        bumped = []
        for (host_id, host_uuid), digest in wanted.items():
            changed = await s.execute(
                update(Hypervisor).where(Hypervisor.id == host_id,
                                         Hypervisor.firewall_digest.is_distinct_from(digest))
                .values(generation=Hypervisor.generation + 1, firewall_digest=digest)
                .execution_options(synchronize_session=False))
            if changed.rowcount:  # type: ignore[attr-defined]
                await hosts_wakeup.notify(s, host_uuid)
                bumped.append(host_uuid)
    for host_uuid in bumped:
        hosts_wakeup.wake(host_uuid)
    return bumped


class VmFirewalls(Reconciler):
    """The pass in the background of an API process, run while it leads."""

    name = "vm-firewalls"

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt, set())
        self.leader = Leader(rt.db.url, LEADER_ROLE, rt.settings.leader_retry_interval)
        self._heard = Channel(rt.db.url, CHANNEL, self._event.set)
        self._unlisten: Callable[[], None] | None = None
        self._telling: set[asyncio.Task[None]] = set()

    @property
    def interval(self) -> float:
        return INTERVAL

    async def start(self) -> None:
        await self.leader.start()
        await self._heard.start()
        self._unlisten = groups_service.on_change(self.changed)
        await super().start()

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        await super().stop()
        for task in list(self._telling):
            task.cancel()
        await asyncio.gather(*self._telling, return_exceptions=True)
        await self._heard.stop()
        await self.leader.stop()

    def changed(self) -> None:
        """A security-group change committed in this process: the leader's pass now."""
        if self.leader.leading:
            self._event.set()
            return
        task = asyncio.get_running_loop().create_task(self._heard.tell(), name="vm-fw-tell")
        self._telling.add(task)
        task.add_done_callback(self._telling.discard)

    async def once(self) -> bool:
        if self.leader.leading:
            await sync_once(self.rt)
        return False
