"""Who is asking, and the runtime a request is served with."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from barecloud.conductor.locks import ConductorGone
from barecloud.conductor.recovery import live_conductors
from barecloud.conductor.ring import HashRing
from barecloud.conductor.wakeups import CommandListener
from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.errors import BarecloudError


class NoConductor(BarecloudError):
    code = 503


T = TypeVar("T")


# The roles of a cloud admin, implied roles expanded (admin ⊃ member ⊃ reader).
ADMIN_ROLES: tuple[str, ...] = ("admin", "member", "reader")
# The project every request acts for while auth is "noauth" (all admin).
NOAUTH_PROJECT = "6e6f6175746862617265636c6f756400"


@dataclass(frozen=True)
class RequestContext:
    """Who is asking (docs/design/tenancy.md).

    The auth middleware always sets ``roles`` from the token; the default, the
    cloud admin's roles, is for the service's own callers (the conductor, the
    lab, deploys), which act for the operator.
    """

    request_id: str
    user: str | None = None
    project: str | None = None
    user_name: str | None = None
    project_name: str | None = None
    domain: str | None = None
    system: bool = False
    roles: tuple[str, ...] = ADMIN_ROLES
    # The token itself (to revoke one's own); kept out of repr and so of logs.
    token: str | None = field(default=None, repr=False)

    @property
    def is_admin(self) -> bool:
        """A project admin is the cloud admin, as in Nova's and Ironic's legacy defaults."""
        return "admin" in self.roles

    @classmethod
    def noauth(cls, request_id: str) -> RequestContext:
        """auth_strategy "noauth": the admin of NOAUTH_PROJECT."""
        return cls(request_id=request_id, project=NOAUTH_PROJECT, roles=ADMIN_ROLES)

    @classmethod
    def anonymous(cls, request_id: str) -> RequestContext:
        """A request nobody authenticated (version documents, /boot/, the agent)."""
        return cls(request_id=request_id, roles=())


@dataclass
class Runtime:
    """What services need: the database, settings and who does the work."""

    db: Database
    settings: Settings
    # The in-process conductor, if this process runs one (all-in-one).
    local_conductor: object | None = None
    _ring: HashRing | None = field(default=None, repr=False)
    _groups: dict[str, HashRing] = field(default_factory=dict, repr=False)
    _ring_at: float = 0.0
    # LISTENs for "a command was issued" from conductors in other processes, so
    # agents' long-polls need not re-read their node every second (API processes).
    commands: CommandListener | None = field(default=None, repr=False)
    # Over PostgreSQL: this process's part in VM consoles across API processes
    # (services/compute/vm_console_relay.Shared, set while it runs); None: the
    # console sessions are this process's alone (all-in-one on SQLite).
    console_relay: object | None = field(default=None, repr=False)

    async def _refresh(self) -> None:
        if time.monotonic() - self._ring_at < 2.0 and self._ring is not None:
            return
        live = await live_conductors(self.db, self.settings.conductor_heartbeat_timeout)
        self._ring = HashRing(h for h, _ in live)
        self._groups = HashRing.by_group(live)
        self._ring_at = time.monotonic()

    async def conductor_for(self, node_uuid: str, group: str = "") -> str:
        """The live conductor that owns ``node_uuid`` (in its conductor group)."""
        await self._refresh()
        ring = self._groups.get(group)
        host = ring.host_for(node_uuid) if ring else None
        if host is None:
            self._ring_at = 0.0
            raise NoConductor(
                f"No conductor service in group '{group}' is alive to manage node {node_uuid}."
            )
        return host

    async def conductor_hint(self, node_uuid: str, group: str = "") -> str | None:
        """The live conductor that owns ``node_uuid``, or None: for display only."""
        await self._refresh()
        return self.conductor_name_hint(node_uuid, group)

    def conductor_name_hint(self, node_uuid: str, group: str = "") -> str | None:
        ring = self._groups.get(group)
        return ring.host_for(node_uuid) if ring else None

    def forget_ring(self) -> None:
        """Read the live conductors again at the next lookup."""
        self._ring_at = 0.0

    async def with_live_conductor(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt`` (a transaction that claims a node for the conductor the
        ring names); if that conductor turned out not live (locks.ConductorGone, the
        transaction rolled back), once more with a fresh ring, else 503."""
        try:
            return await attempt()
        except ConductorGone:
            self.forget_ring()
        try:
            return await attempt()
        except ConductorGone as exc:
            self.forget_ring()
            raise NoConductor(exc.message) from None

    def commands_notified(self) -> bool:
        """Whether a NOTIFY wakes this process's long-polls when a command is issued."""
        return self.commands is not None and self.commands.listening

    def wake(self) -> None:
        wake = getattr(self.local_conductor, "wake", None)
        if wake is not None:
            wake()
