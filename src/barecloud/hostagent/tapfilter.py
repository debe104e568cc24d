"""Security groups on a hypervisor's taps: nftables in the host's namespace.

:mod:`barecloud.hostagent.firewall` renders one port's tables; this keeps
the host's set of them equal to what the desired list says, in one ``nft``
transaction per change (a VM's NICs' rules, a rule of a group with many
VMs here: one run).  Each tap gets a mark number of its own, allocated here
(not its interface index: a tap's tables are loaded before QEMU opens it,
and a host that has made many taps has indexes beyond the mark's 16 bits).
The tables match the tap by name, so they hold from before the tap exists.

On first use it turns ``bridge-nf-call-iptables``/``ip6tables`` on (bridged
IP through the ``inet`` hooks, where conntrack works) and replaces the
``sg_`` tables a previous agent left in the same transaction as the wanted
ones are loaded: a restarted agent never leaves its VMs unfiltered.  A
port whose rules cannot be rendered is loaded with none (only DHCP and
neighbour discovery: closed, not open) and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping

from barecloud.hostagent import firewall
from barecloud.hostagent.firewall import FirewallError, PortRules

log = logging.getLogger(__name__)

COMMAND_TIMEOUT = 10.0
_SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


class TapFilterError(Exception):
    """``nft`` or ``sysctl`` failed; the message has its stderr."""


class TapFilters:
    """The ``sg_`` tables of one namespace (None: the agent's own)."""

    def __init__(self, netns: str | None = None, *, timeout: float = COMMAND_TIMEOUT) -> None:
        self.netns = netns
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._wanted: dict[str, PortRules] = {}
        self._marks: dict[str, int] = {}
        self._loaded: dict[str, str] | None = None  # tap -> script nft took; None: first use
        self.loads = 0  # nft transactions run (tests and logs)

    async def sync(self, wanted: Mapping[str, PortRules]) -> None:
        """Exactly the taps of ``wanted`` filtered, each by its rules."""
        async with self._lock:
            self._wanted = dict(wanted)
            await self._load()

    async def ensure(self, taps: Iterable[str]) -> None:
        """Before a VM's QEMU opens ``taps``: the wanted rules of each loaded (a load
        that failed at :meth:`sync` is tried again here); raises if nft refuses."""
        async with self._lock:
            loaded = self._loaded or {}
            if any(t in self._wanted and t not in loaded for t in taps):
                await self._load()

    def applied(self) -> dict[str, str]:
        """Each filtered tap's loaded script."""
        return dict(self._loaded or {})

    # -- inside ------------------------------------------------------------------

    def _mark(self, tap: str) -> int:
        if tap not in self._marks:
            used = set(self._marks.values())
            free = next((n for n in range(1, firewall.MAX_MARK_ID + 1) if n not in used), None)
            if free is None:
                raise TapFilterError(f"more than {firewall.MAX_MARK_ID} filtered taps")
            self._marks[tap] = free
        return self._marks[tap]

    def _render(self, tap: str, rules: PortRules) -> str:
        try:
            return firewall.render(tap, self._mark(tap), rules)
        except FirewallError as exc:
            log.error("tap %s: its rules cannot be applied (%s): only DHCP and neighbour "
                      "discovery pass", tap, exc)
            return firewall.render(tap, self._mark(tap), PortRules(mac=""))

    async def _load(self) -> None:
        stale: set[str] = set()
        if self._loaded is None:
            for key in _SYSCTLS:
                await self._run("sysctl", "-q", "-w", f"{key}=1")
            stale = firewall.tables_of(await self._run("nft", "list", "tables"))
            self._loaded = {}
        loaded = self._loaded
        for tap in [t for t in self._marks if t not in self._wanted]:
            del self._marks[tap]
        scripts = {tap: self._render(tap, rules) for tap, rules in sorted(self._wanted.items())}
        stale -= {firewall.table_name(t) for t in scripts}
        gone = sorted(t for t in loaded if t not in scripts)
        changed = [t for t, text in scripts.items() if loaded.get(t) != text]
        if not (stale or gone or changed):
            return
        text = "".join([
            *(f"table {family} {name} {{}}\ndelete table {family} {name}\n"
              for name in sorted(stale) for family in ("bridge", "inet")),
            *(firewall.remove(t) for t in gone),
            *(scripts[t] for t in changed)])
        for tap in (*gone, *changed):
            loaded.pop(tap, None)  # unknown until nft says yes
        await self._run("nft", "-f", "-", stdin=text)
        loaded.update({t: scripts[t] for t in changed})
        self.loads += 1
        log.info("taps filtered anew: %d, no longer filtered: %d%s", len(changed), len(gone),
                 f", tables of a previous run removed: {len(stale)}" if stale else "")

    async def _run(self, *argv: str, stdin: str | None = None) -> str:
        full = (*(("ip", "netns", "exec", self.netns) if self.netns else ()), *argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *full, stdin=asyncio.subprocess.PIPE if stdin is not None
                else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise TapFilterError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise TapFilterError(f"`{' '.join(argv)}` took more than {self.timeout:g} s"
                                 ) from None
        if proc.returncode:
            text = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            raise TapFilterError(f"`{' '.join(argv)}` failed: {text}")
        return out.decode(errors="replace")
