"""A server's serial console output (``os-getConsoleOutput``).

A machine's serial console is captured to a file by whatever watches it: a
console server (conserver, ``ipmitool sol activate`` redirected to a file)
in a data centre, the lab itself for lab machines
(``<lab>/machines/<name>/console.log``).  The node's
``driver_info.console_log`` names that file, as an absolute path the API
process can read (the lab's enrollment sets it); only admins write
``driver_info``, so the path is the operator's statement of where the log
is.  A node without one has no console to show (409, as Nova answers for a
guest without a console).  A VM's log is the copy its host agent sent.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from barecloud.errors import Conflict
from barecloud.services.compute import queries, vm_consoles
from barecloud.services.compute.actions import authorized
from barecloud.services.context import RequestContext, Runtime

# As libvirt's driver: at most the last 100 KiB, then Nova's tail of ``length`` lines.
MAX_BYTES = 100 * 1024


class ConsoleNotAvailable(Conflict):
    pass


def tail(path: Path, length: int | None) -> str:
    with path.open("rb") as log:
        size = log.seek(0, os.SEEK_END)
        log.seek(max(0, size - MAX_BYTES))
        data = log.read(MAX_BYTES)
    text = data.decode("utf-8", "replace")
    if size > MAX_BYTES:  # the first line is cut: drop it
        text = text.partition("\n")[2]
    if length is None or length < 0:
        return text
    # Nova's ``_tail_log``: the last ``length`` pieces of the text split at newlines
    # (a final newline leaves an empty last piece, which counts).
    return "\n".join(text.split("\n")[-length:]) if length else ""


async def output(rt: Runtime, ctx: RequestContext, server_id: str, length: int | None) -> str:
    server = await authorized(rt, ctx, server_id, "compute:servers:action")
    if server.hypervisor_id is not None:  # a VM: the copy its host sent (vm_consoles.py)
        path = vm_consoles.path_of(rt, server.uuid)
        if not path.exists():
            return ""  # nothing printed yet
        return await asyncio.to_thread(tail, path, length)
    view = await queries.get(rt, ctx, server.uuid)
    log = view.node.console_log if view.node else None
    if not log or not os.path.isabs(log):
        raise ConsoleNotAvailable("Guest does not have a console available.")
    path = Path(log)
    try:
        return await asyncio.to_thread(tail, path, length)
    except OSError:
        raise ConsoleNotAvailable("Guest does not have a console available.") from None
