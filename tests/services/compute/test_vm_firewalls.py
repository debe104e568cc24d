"""A change of a VM port's rules moves its host's generation once (vm_firewalls.py),
on SQLite and PostgreSQL: the port's own group's rules, and a remote group's
member on another host; passes run at once bump a host once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from barecloud.config import Settings
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.session import Database
from barecloud.services.compute import vm_firewalls
from barecloud.services.context import Runtime
from barecloud.services.network import binding, ports
from barecloud.services.network import security_groups as groups
from barecloud.services.tenancy import NOAUTH_PROJECT
from tests.services.compute import support as cs


@pytest.fixture
async def rt(database: Database, settings: Settings) -> AsyncIterator[Runtime]:
    async with cs.running(database, settings) as runtime:
        yield runtime


async def _generations(db: Database) -> dict[str, int]:
    async with db.session() as s:
        return dict((await s.execute(select(Hypervisor.hostname, Hypervisor.generation)))
                    .tuples().all())


async def test_a_rule_or_a_member_bumps_the_hosts_whose_vms_it_changes(rt: Runtime) -> None:
    async with rt.db.session() as s:
        s.add_all([Hypervisor(hostname=h) for h in ("hv-a", "hv-b", "hv-idle")])
    net = await cs.network(rt, "fw-net", "10.70.0.0/24")
    vm_a = await ports.create_port(rt, project_id=NOAUTH_PROJECT, network_id=net,
                                   device_id="vm-a", device_owner="compute:nova")
    await binding.bind_port(rt.db, vm_a.id, "hv-a", "normal")
    await vm_firewalls.sync_once(rt)
    before = await _generations(rt.db)
    assert await vm_firewalls.sync_once(rt) == []  # nothing changed: no bump

    # A rule of the port's group: its host only.
    default = await groups.ensure_default(rt.db, NOAUTH_PROJECT)
    await groups.create_rule(rt, cs.ADMIN, {
        "security_group_id": default, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 8080, "port_range_max": 8080})
    bumped = await asyncio.gather(*(vm_firewalls.sync_once(rt) for _ in range(3)))
    assert len([h for b in bumped for h in b]) == 1  # three passes at once: one bump
    after = await _generations(rt.db)
    assert (after["hv-a"], after["hv-b"], after["hv-idle"]) == (
        before["hv-a"] + 1, before["hv-b"], before["hv-idle"])

    # A VM on another host joins the default group: hv-a's rules name its address
    # (the default group's ingress from its own members), so both hosts move.
    vm_b = await ports.create_port(rt, project_id=NOAUTH_PROJECT, network_id=net,
                                   device_id="vm-b", device_owner="compute:nova")
    await binding.bind_port(rt.db, vm_b.id, "hv-b", "normal")
    assert len(await vm_firewalls.sync_once(rt)) == 2
    again = await _generations(rt.db)
    assert (again["hv-a"], again["hv-b"], again["hv-idle"]) == (
        after["hv-a"] + 1, after["hv-b"] + 1, after["hv-idle"])

    # Its port goes: hv-b has no filtered port left, hv-a loses a remote member.
    await ports.delete_port(rt, None, vm_b.id)
    assert len(await vm_firewalls.sync_once(rt)) == 2
    assert await vm_firewalls.sync_once(rt) == []
