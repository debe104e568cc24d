"""A VM's serial console log, as its host agent sends it.

QEMU writes the log on the host; the agent sends its last ``MAX_BYTES``
when it changes (docs/design/host-agent-protocol.md) and the service keeps
the latest copy, private, under ``<data_dir>/consoles/`` so that
``os-getConsoleOutput`` answers from any API process without reaching into
the host.  Only the VM's own host may write it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from sqlalchemy import select

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services.context import Runtime

MAX_BYTES = 100 * 1024


def path_of(rt: Runtime, server_uuid: str) -> Path:
    return rt.settings.data_dir / "consoles" / f"{server_uuid}.log"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


async def save(rt: Runtime, host: Hypervisor, server_uuid: str, data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise InvalidParameter(f"A console log update is the log's last {MAX_BYTES} bytes "
                               "at most.")
    async with rt.db.session() as s:
        mine = await s.scalar(select(Server.id).where(
            Server.uuid == server_uuid.lower(), Server.hypervisor_id == host.id,
            Server.deleted.is_(False)))
    if mine is None:
        raise NotFound(f"Instance {server_uuid} could not be found on this host.")
    await asyncio.to_thread(_write, path_of(rt, server_uuid.lower()), data)


def forget(rt: Runtime, server_uuid: str) -> None:
    path_of(rt, server_uuid).unlink(missing_ok=True)
