"""One network agent leads (one dnsmasq per tenant network); a killed leader's
role passes on to another process at its next try."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from sqlalchemy.engine import make_url

from barecloud.conductor.leader import Leader
from barecloud.config import Settings
from barecloud.db import migrate
from barecloud.db.session import Database
from barecloud.services.context import Runtime
from barecloud.services.network.agent import LEADER_ROLE, NetworkAgent
from barecloud.services.network.dhcp import NetworkDhcpServer, NetworkSpec


async def _until(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_one_of_two_agents_leads_and_a_killed_leaders_role_passes_on(
        pg_url: str, settings: Settings) -> None:
    db = Database(pg_url)
    fast = settings.model_copy(update={"leader_retry_interval": 0.1})
    a, b = NetworkAgent(Runtime(db, fast)), NetworkAgent(Runtime(db, fast))
    try:
        await a.leader.start()
        await b.leader.start()
        assert [a.leader.leading, b.leader.leading] == [True, False]
        await asyncio.sleep(0.3)  # b keeps trying, and keeps failing
        assert [a.leader.leading, b.leader.leading] == [True, False]

        # The leader's process dies (it tries no more): its connection, and so its
        # lock, go with it.
        assert a.leader._task is not None
        a.leader._task.cancel()
        pid = a.leader._conn.get_server_pid()
        dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        admin = await asyncpg.connect(dsn)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await _until(lambda: b.leader.leading)
        # Had it lived on, it knows it leads no more once its connection is gone
        # (PostgreSQL releases the lock as the backend exits, a moment before it
        # closes the socket: b may lead first).
        await _until(lambda: not a.leader.leading)
        assert not await a.leader.check()  # and b holds the lock now
        await asyncio.sleep(0.3)
        assert [a.leader.leading, b.leader.leading] == [False, True]

        # A leader that stops lets go at once: the next try anywhere wins.
        await b.leader.stop()
        assert await a.leader.check()
    finally:
        await a.leader.stop()
        await b.leader.stop()
        await db.dispose()


async def test_the_embedded_service_always_leads(settings: Settings, tmp_path: object) -> None:
    leader = Leader(f"sqlite+aiosqlite:///{tmp_path}/x.sqlite", LEADER_ROLE, 1.0)
    await leader.start()
    assert leader.leading and await leader.check()
    await leader.stop()
    assert leader.leading


async def test_an_agent_that_does_not_lead_stops_the_dhcp_servers_it_runs(
        pg_url: str, settings: Settings) -> None:
    await migrate.upgrade_async(pg_url)
    db = Database(pg_url)
    a, b = NetworkAgent(Runtime(db, settings)), NetworkAgent(Runtime(db, settings))
    spec = NetworkSpec(network_id="net-1", port_id="port-1", mac="fa:16:3e:00:00:01",
                       addresses=(), subnets=())
    server = NetworkDhcpServer(spec, b.root)  # b ran it while it led, say
    proc = server.proc = await asyncio.create_subprocess_exec("sleep", "60")
    b.servers[spec.network_id] = server
    try:
        await a.leader.start()
        await b.leader.start()
        await a.sync_dhcp()
        await b.sync_dhcp()
        assert b.servers == {} and not server.alive()
        assert proc.returncode is not None  # the dnsmasq (here: a sleep) was ended
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await a.leader.stop()
        await b.leader.stop()
        await db.dispose()

