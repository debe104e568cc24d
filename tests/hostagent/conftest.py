"""Fixtures for the host agent's tests: the service's side on loopback, agents that stop."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import time
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from barecloud.hostagent.driver import Capacity
from barecloud.hostagent.fake import FakeDriver
from barecloud.hostagent.loop import HostAgent
from tests.hostagent.server import ApiServer

CAPACITY = Capacity(vcpus=8, memory_mb=16000, disk_gb=100)
IMAGE = b"a bootable image, honest\n" * 1000


def credential(n: int = 1) -> str:
    return f"hv.{uuidlib.UUID(int=n)}.{'s' * 42}{n % 10}"


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    server = await ApiServer().start()
    server.files["img-1"] = IMAGE
    server.files["img-2"] = IMAGE + b"version 2\n"
    yield server
    await server.close()


def image(api: ApiServer, name: str = "img-1", *, sha512: str | None = None) -> dict[str, Any]:
    data = api.files[name]
    return {"id": name, "url": f"{api.url}/images/{name}?expires=1&sig=abc",
            "disk_format": "qcow2", "size": len(data),
            "sha512": sha512 or hashlib.sha512(data).hexdigest()}


def entry(api: ApiServer, vm: str, seq: int, **changes: Any) -> dict[str, Any]:
    """A desired entry as the contract shows it."""
    base: dict[str, Any] = {
        "uuid": vm, "name": f"name-{vm}", "seq": seq, "power": "on", "reboot": None,
        "flavor": {"vcpus": 1, "memory_mb": 512, "disk_gb": 1},
        "image": image(api),
        "config_drive": {"meta_data": {"uuid": vm, "hostname": f"host-{vm}"},
                         "user_data": "#cloud-config\n", "network_data": {"links": []}},
        "nics": [{"mac": "fa:16:3e:00:00:01", "network_id": "0123456789abcdef", "mtu": 1450,
                  "segment": {"type": "vxlan", "id": 4242}}]}
    base.update(changes)
    return base


async def eventually(check: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    """Wait until ``check()`` is true; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or check}")
        await asyncio.sleep(0.01)


class Running:
    """An agent running in a task of the test's loop."""

    def __init__(self, agent: HostAgent) -> None:
        self.agent = agent
        self.task = asyncio.create_task(agent.run())

    async def stop(self) -> None:
        self.agent.stop()
        await asyncio.wait_for(self.task, 5)


@pytest.fixture
async def start_agent(api: ApiServer, tmp_path: Path
                      ) -> AsyncIterator[Callable[..., Running]]:
    """``start_agent(driver=None, state_dir=None, credential=..., **options)``."""
    running: list[Running] = []

    def start(driver: FakeDriver | None = None, state_dir: Path | None = None,
              cred: str | None = None, **options: Any) -> Running:
        cred = cred or credential()
        if cred not in api.hosts:
            api.add_host(cred)
        options.setdefault("poll_wait", 2.0)
        agent = HostAgent(api.url, cred, driver or FakeDriver(CAPACITY, state_dir=tmp_path / "hv"),
                          state_dir or tmp_path / "state", **options)
        r = Running(agent)
        running.append(r)
        return r

    yield start
    for r in running:
        r.agent.stop()
        await asyncio.gather(r.task, return_exceptions=True)


def vm_report(host: Any, vm: str) -> dict[str, Any] | None:
    """What the host's last report says of ``vm``."""
    if not host.reports:
        return None
    return next((v for v in host.reports[-1]["vms"] if v["uuid"] == vm), None)


NFT = shutil.which("nft") or "/usr/sbin/nft"


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace of the test's own, where nftables scripts are loaded for
    real (root and nft, else skipped); deleted after."""
    if os.geteuid() != 0 or not os.path.exists(NFT):
        pytest.skip("needs root and nft")
    name = f"bcnft-{uuidlib.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)
