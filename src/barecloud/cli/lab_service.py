"""``serve --lab N``: a loopback lab of real BMCs, enrolled and made available.

The lab runs as processes of its own (``python -m barecloud.lab``): it is
hardware, and the service only ever talks to it over IPMI, Redfish and its
own API.  Here the service starts it, lets it enroll its machines through the
Bare Metal API (driver ``ipmi``), and walks the new nodes to ``available``
through the same workflows an operator would trigger.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from barecloud import states
from barecloud.cli import demo_content
from barecloud.config import Settings
from barecloud.db.models import Node
from barecloud.services import nodes
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import bootstrap


def lab_dir(settings: Settings) -> Path:
    return settings.data_dir / "lab"


async def start(rt: Runtime, settings: Settings, count: int, driver: str = "ipmi") -> dict[
    str, Any
]:
    """Start (or grow) the lab, enroll it, and bring its new nodes to available."""
    env = dict(os.environ)
    env.pop("OS_TOKEN", None)
    if settings.auth_strategy == "keystone":
        # The lab enrolls over the API as the admin; in the environment, not argv.
        env["OS_TOKEN"] = await bootstrap.admin_token(rt)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "barecloud.lab", "up", "--nodes", str(count),
        "--lab-dir", str(lab_dir(settings)), "--enroll", settings.base_url,
        "--boot-url", f"{settings.base_url}/boot/boot.ipxe", "--driver", driver, "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise SystemExit(f"the lab did not start: {err.decode(errors='replace').strip()}")
    info: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    async with rt.db.session() as s:
        fresh = list((await s.scalars(
            select(Node.uuid).where(Node.provision_state == states.ENROLL,
                                    Node.driver == driver)
        )).all())
    ctx = RequestContext(request_id="req-lab")
    for verb, settled in (("manage", states.MANAGEABLE), ("provide", states.AVAILABLE)):
        for uuid in fresh:
            await nodes.set_provision_state(rt, ctx, uuid, verb, {})
        await _settle(rt, fresh, settled)
    info["created"] = await demo_content.ensure(rt)
    return info


def stop(settings: Settings) -> None:
    """Stop the lab's processes; its machines and their state stay on disk."""
    if lab_dir(settings).exists():
        subprocess.run(
            [sys.executable, "-m", "barecloud.lab", "down", "--lab-dir", str(lab_dir(settings))],
            capture_output=True, timeout=60, check=False,
        )


async def _settle(rt: Runtime, uuids: list[str], state: str, timeout: float = 300) -> None:
    """Wait until every node rests in a stable state (cleaning boots the agent)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with rt.db.session() as s:
            found = (await s.scalars(
                select(Node.provision_state).where(Node.uuid.in_(uuids))
            )).all()
        if all(states.is_stable(p) for p in found):
            return
        await asyncio.sleep(0.2)
