"""What ``/boot/`` serves machines: iPXE scripts, the agent kernel and ramdisk.

Unless ``agent_kernel`` and ``agent_ramdisk`` name a real Linux kernel and
initramfs, the kernel is the lab kernel (a marker the loopback lab firmware
recognises) and the ramdisk is a zipapp of :mod:`barecloud.agent`, built
from this installation on first use and rebuilt when its sources change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import barecloud.agent
from barecloud.config import Settings
from barecloud.drivers import ipxe
from barecloud.errors import BarecloudError, NotFound

LAB_KERNEL = (
    b"#!barecloud-lab-kernel\n"
    b"# The loopback lab firmware runs the ramdisk (a zipapp of barecloud.agent) with "
    b"python3.\n"
)

_build_lock = asyncio.Lock()


def node_script(settings: Settings, name: str) -> Path:
    """The script ``prepare_ramdisk`` wrote for MAC ``name`` (``aa-bb-cc-dd-ee-ff``)."""
    name = name.lower()
    path = ipxe.BootFiles(settings.data_dir, settings.base_url).scripts_dir / f"{name}.ipxe"
    if not ipxe.SCRIPT_NAME.match(name) or not path.is_file():
        raise NotFound(f"No boot script for {name!r}: the machine is not being provisioned.")
    return path


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
