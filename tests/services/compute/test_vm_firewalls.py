"""A change of a VM port's rules moves its host's generation once (vm_firewalls.py),
on SQLite and PostgreSQL: the port's own group's rules, and a remote group's
member on another host; passes run at once bump a host once.  Of several
processes only the leader passes, and a change committed in another one wakes it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

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


class _WokenOnly(vm_firewalls.VmFirewalls):
    """A pass only when woken: its interval is beyond any test."""

    @property
    def interval(self) -> float:
        return 3600.0


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_leader_passes_and_hears_a_change_made_in_another_process(
        pg: Database, settings: Settings) -> None:
    async with cs.running(pg, settings) as rt:
        async with rt.db.session() as s:
            s.add(Hypervisor(hostname="hv-a"))
        net = await cs.network(rt, "fw-net", "10.70.0.0/24")
        vm = await ports.create_port(rt, project_id=NOAUTH_PROJECT, network_id=net,
                                     device_id="vm-a", device_owner="compute:nova")
        await binding.bind_port(rt.db, vm.id, "hv-a", "normal")
        default = await groups.ensure_default(rt.db, NOAUTH_PROJECT)
        # Two API processes' passes (each its own leader connection and LISTEN).
        a, b = _WokenOnly(rt), _WokenOnly(rt)
        await a.start()
        await b.start()
        try:
            assert [a.leader.leading, b.leader.leading] == [True, False]
            await _until(_first_pass_done(rt.db))  # a's, as it started
            start = (await _generations(rt.db))["hv-a"]

            # As if each were in a process of its own: neither hears this one's change.
            for r in (a, b):
                assert r._unlisten is not None
                r._unlisten()
            await groups.create_rule(rt, cs.ADMIN, {
                "security_group_id": default, "direction": "ingress", "protocol": "tcp",
                "port_range_min": 22, "port_range_max": 22})
            await b.once()  # not the leader: no pass
            assert (await _generations(rt.db))["hv-a"] == start
            await a.once()
            assert (await _generations(rt.db))["hv-a"] == start + 1

            # A change committed where b (not leading) hears it: b tells a (NOTIFY), and
            # a's pass, which nothing else would start for an hour, bumps the host.
            b._unlisten = groups.on_change(b.changed)
            await groups.create_rule(rt, cs.ADMIN, {
                "security_group_id": default, "direction": "ingress", "protocol": "tcp",
                "port_range_min": 80, "port_range_max": 80})

            async def bumped() -> bool:
                return (await _generations(rt.db))["hv-a"] == start + 2
            await _until(bumped)
        finally:
            await b.stop()
            await a.stop()


def _first_pass_done(db: Database) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        async with db.session() as s:
            digest = await s.scalar(select(Hypervisor.firewall_digest))
        return digest is not None
    return done
