"""What ``/boot/`` serves machines: iPXE scripts, the agent kernel and ramdisk.

A node's script carries the agent token of one ramdisk boot, so it is served
once, within ``boot_script_ttl`` of being written; a second or late request
is refused and recorded on the node (services/baremetal/agent_refusals.py).

Unless ``agent_kernel`` and ``agent_ramdisk`` name a real Linux kernel and
initramfs, the kernel is the lab kernel (a marker the loopback lab firmware
recognises) and the ramdisk is a zipapp of :mod:`barecloud.agent`, built
from this installation on first use and rebuilt when its sources change.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select

import barecloud.agent
from barecloud.config import Settings
from barecloud.db.models import Node, Port
from barecloud.db.transitions import note
from barecloud.drivers import ipxe
from barecloud.errors import BarecloudError, NotFound
from barecloud.services.baremetal import agent_refusals
from barecloud.services.baremetal.agent import LOOKUP_STATES
from barecloud.services.context import Runtime

LAB_KERNEL = (
    b"#!barecloud-lab-kernel\n"
    b"# The loopback lab firmware runs the ramdisk (a zipapp of barecloud.agent) with "
    b"python3.\n"
)

_build_lock = asyncio.Lock()


def _no_script(name: str) -> NotFound:
    return NotFound(f"No boot script for {name[:17]!r}: the machine is not being "
                    "provisioned.")


async def node_script(rt: Runtime, name: str, source: str) -> str:
    """The script ``prepare_ramdisk`` wrote for MAC ``name`` (``aa-bb-cc-dd-ee-ff``),
    taken away as it is served: the first asker in time gets it, nobody else."""
    name = name.lower()
    if not ipxe.SCRIPT_NAME.match(name):
        raise _no_script(name)
    bf = ipxe.BootFiles(rt.settings.data_dir, rt.settings.base_url)
    path = bf.script_path(name)
    # A rename has one winner, across processes; a dot name is no one's script.
    taken = path.with_name(f".{path.name}.{secrets.token_hex(8)}.served")
    try:
        os.rename(path, taken)
    except FileNotFoundError:
        await _refuse(rt, name, source, "served already, or not written")
        raise _no_script(name) from None
    try:
        age = time.time() - taken.stat().st_mtime
        text = taken.read_text()
    finally:
        taken.unlink(missing_ok=True)
    if age > rt.settings.boot_script_ttl:
        await _refuse(rt, name, source, f"written {age:.0f} s ago, more than "
                                        f"boot_script_ttl ({rt.settings.boot_script_ttl:g} s)")
        raise _no_script(name)
    await _served(rt, bf, name, source)
    return text


def _by_mac(name: str) -> Select[Any]:
    return select(Node).join(Port, Port.node_id == Node.id).where(
        Port.address == name.replace("-", ":"))


async def _node_of(rt: Runtime, name: str) -> Node | None:
    async with rt.db.session() as s:
        node: Node | None = await s.scalar(_by_mac(name))
        return node


async def _refuse(rt: Runtime, name: str, source: str, why: str) -> None:
    """Record a request for the script of a node being provisioned (other MACs: quiet)."""
    node = await _node_of(rt, name)
    if node is None or node.provision_state not in LOOKUP_STATES:
        return
    await agent_refusals.record(rt, node.id, f"boot script request for {name} from {source} "
                                             f"refused: {why}")


async def _served(rt: Runtime, bf: ipxe.BootFiles, name: str, source: str) -> None:
    """The token went out: the node's other NICs' scripts go too; the history says where."""
    async with rt.db.session() as s:
        node: Node | None = await s.scalar(_by_mac(name))
        if node is None:
            return
        macs = (await s.scalars(select(Port.address).where(Port.node_id == node.id))).all()
        for mac in macs:
            with contextlib.suppress(FileNotFoundError):
                bf.script_path(mac).unlink()
        s.add(note(node, f"boot script for {name} served to {source}", event_type="boot"))


def _configured(setting: str, value: str) -> Path | None:
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise BarecloudError(f"The {setting} setting names {value}, which is not a file.")
    return path


def agent_kernel(settings: Settings) -> Path | bytes:
    return _configured("agent_kernel", settings.agent_kernel) or LAB_KERNEL


async def agent_ramdisk(settings: Settings) -> Path:
    configured = _configured("agent_ramdisk", settings.agent_ramdisk)
    if configured is not None:
        return configured
    target = settings.data_dir.resolve() / "boot" / "agent.pyz"
    async with _build_lock:  # a rack booting at once builds it once
        if _stale(target):
            await asyncio.to_thread(_build, target)
    return target


def _stale(target: Path) -> bool:
    try:
        built = target.stat().st_mtime
    except FileNotFoundError:
        return True
    package = Path(barecloud.agent.__file__).parent
    sources = [package.parent / "__init__.py", *package.rglob("*.py")]
    return any(p.stat().st_mtime > built for p in sources)


def _build(target: Path) -> None:
    from barecloud.agent import bundle

    bundle.build(target)  # atomic: API processes sharing data_dir never see half
