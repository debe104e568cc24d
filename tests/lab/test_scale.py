"""A thousand machines in two shard processes: start-up time, and every BMC answers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from barecloud.wire.ipmi.pool import BmcTarget, IpmiPool
from barecloud.wire.ipmi.server import raise_open_files_limit
from tests.lab.conftest import PASSWORD, make_lab

NODES = 1000


@pytest.mark.slow
async def test_a_thousand_machines_in_two_shards(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "lab", NODES, 2)
    try:
        started = time.monotonic()
        up = await asyncio.to_thread(lab.up, NODES, "--shards", "2")
        startup = time.monotonic() - started
        assert [s["machines"] for s in up["shards"]] == [500, 500]
        assert startup < 30, f"1,000 machines took {startup:.1f}s to come up"

        raise_open_files_limit(NODES + 256)
        pool = IpmiPool(concurrency=128, timeout=10)
        targets = [BmcTarget("127.0.0.1", lab.ipmi_base + i, "admin", PASSWORD)
                   for i in range(NODES)]  # fmt: skip
        try:
            started = time.monotonic()
            first = await asyncio.gather(*(pool.get_power(t) for t in targets))
            login_sweep = time.monotonic() - started
            await pool.set_power(targets[-1], "on")
            started = time.monotonic()
            second = await asyncio.gather(*(pool.get_power(t) for t in targets))
            sweep = time.monotonic() - started
        finally:
            await pool.close()
        assert first == [False] * NODES
        assert second == [False] * (NODES - 1) + [True]
        print(f"\nup {startup:.1f}s, login+status sweep {login_sweep:.1f}s, sweep {sweep:.2f}s")

        async with httpx.AsyncClient(auth=("admin", PASSWORD), timeout=10) as http:
            for shard in up["shards"]:
                systems = await http.get(f"{shard['redfish_url']}/redfish/v1/Systems")
                assert systems.json()["Members@odata.count"] == 500
        last = await asyncio.to_thread(lab.machine, f"lab-{NODES:05d}")
        assert last["power_on"] is True and last["shard"] == 1
    finally:
        await asyncio.to_thread(lab.cli, "down", check=False)
        lab.kill()
