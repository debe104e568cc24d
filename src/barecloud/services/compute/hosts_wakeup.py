"""Waking a host agent's long-poll when what its host should run changes.

In the process that made the change, at once (the mailbox); in other API
processes, by PostgreSQL NOTIFY when the change commits.  A missed signal
costs latency only: the long-poll reads the host's generation again every
few seconds.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.conductor import wakeups
from barecloud.conductor.mailbox import MAILBOX
from barecloud.services.baremetal.agent import POLL_RECHECK_NOTIFIED, poll_recheck
from barecloud.services.context import Runtime

PREFIX = "hv:"


def key(hypervisor_uuid: str) -> str:
    return PREFIX + hypervisor_uuid


async def notify(s: AsyncSession, hypervisor_uuid: str) -> None:
    """Wake the host's long-polls in other processes when ``s`` commits."""
    await wakeups.notify_command(s, key(hypervisor_uuid))


def wake(hypervisor_uuid: str) -> None:
    """Wake the host's long-polls in this process (call after the commit)."""
    MAILBOX.notify(key(hypervisor_uuid))


def recheck(rt: Runtime) -> float:
    """How often a host's long-poll reads its generation again.  On SQLite the
    service is the database's only process (docs/design/processes.md): every
    change is made here and wakes the poll at once, so the re-read is a safety
    net, as where a NOTIFY wakes it (in a VM storm, 355 hosts re-read theirs
    every second: 355 transactions a second that found nothing new)."""
    return POLL_RECHECK_NOTIFIED if rt.db.is_sqlite else poll_recheck(rt)
