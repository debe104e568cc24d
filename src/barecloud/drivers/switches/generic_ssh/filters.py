"""Port ACLs of one generic-ssh switch: the network agent's filter pass, one session each.

``PortAcls.apply(wanted)`` makes exactly the ports of ``wanted`` filtered:
a port whose lines changed since the last pass gets its ACLs rewritten, a
port no longer wanted has them taken off its interface and deleted, an
unchanged port is not touched (a pass with no change opens no session).
All of it in one session (under the switch's session lock, so a pass and a
batch of port moves never interleave), saved or committed once.

What was applied is remembered per process: the first pass after a start
rewrites every wanted port and clears every other port of the ``ports``
option (harmless where there is nothing: the vendors take the removal of
an absent ACL silently, or with a warning).  A refused line fails its port
(logged by the agent with the switch's words, and tried again next pass);
IOS and EOS go on with the other ports, Junos types the pass again without
the refused ports (``rollback 0``), as batches do.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from barecloud.drivers.switches.generic_ssh import acls
from barecloud.drivers.switches.generic_ssh.cli import Session, SshCli
from barecloud.errors import DriverError, PermanentDriverError
from barecloud.hostagent.firewall import PortRules

log = logging.getLogger(__name__)


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


class PortAcls:
    def __init__(self, cli: SshCli, directions: tuple[acls.Direction, ...],
                 ports: tuple[str, ...]) -> None:
        self.cli = cli
        self.directions = directions
        self.ports = ports
        # port -> digest of the lines that filter it; None: not known yet (first pass).
        self.applied: dict[str, str] | None = None

    def lines_for(self, port: str, rules: PortRules) -> list[str]:
        try:
            return acls.filter_lines(self.cli.vendor.device_type, port, rules,
                                     self.directions)
        except ValueError as exc:
            raise PermanentDriverError(self.cli.message(
                f"port {port}'s security groups cannot be written as ACLs: {exc}")) from None

    def plan(self, wanted: Mapping[str, PortRules]) -> list[tuple[str, list[str], str | None]]:
        """(port, lines, digest) of each port to rewrite, (port, lines, None) of each
        to clear: removals first, in port order."""
        applied = self.applied if self.applied is not None else {}
        stale = set(applied) - set(wanted)
        if self.applied is None:
            stale |= set(self.ports) - set(wanted)
        out: list[tuple[str, list[str], str | None]] = [
            (port, acls.unfilter_lines(self.cli.vendor.device_type, port, self.directions),
             None) for port in sorted(stale)]
        for port in sorted(wanted):
            lines = self.lines_for(port, wanted[port])
            digest = _digest(lines)
            if applied.get(port) != digest or self.applied is None:
                out.append((port, lines, digest))
        return out

    async def apply(self, lock_session: Session, wanted: Mapping[str, PortRules],
                    plan: list[tuple[str, list[str], str | None]]) -> None:
        """Type ``plan`` in ``lock_session`` (logged in, under the session lock), save."""
        session, vendor = lock_session, self.cli.vendor
        await session.send(vendor.enter_config)
        pending = plan
        refused: dict[str, str] = {}
        while True:
            now = await self._type(session, pending)
            refused.update(now)
            if not now:
                break
            pending = [step for step in pending if step[0] not in now]
            if vendor.device_type != "juniper_junos" or not pending:
                break
            await session.send("rollback 0")  # Junos: type the rest again, cleanly
        if pending:
            if vendor.commit:
                await session.send(vendor.commit)
            await session.send(vendor.leave_config)
            if vendor.save:
                await session.send(vendor.save)
        await session.log_out()
        applied = dict(self.applied or {})
        for port, _, digest in pending:
            if digest is None:
                applied.pop(port, None)
            else:
                applied[port] = digest
        for port in refused:  # unknown now: rewritten (or cleared) at the next pass
            applied.pop(port, None)
            if port not in wanted:
                applied[port] = "refused"
        self.applied = applied
        if refused:
            raise PermanentDriverError(self.cli.message(
                "port ACLs not set on " + "; ".join(f"{p} ({why})"
                                                  for p, why in sorted(refused.items()))))

    async def _type(self, session: Session, plan: list[tuple[str, list[str], str | None]]
                    ) -> dict[str, str]:
        """Each step's lines; the ports a line of which was refused, and why."""
        refused: dict[str, str] = {}
        for port, lines, _ in plan:
            for line in lines:
                answer = await session.send(line, check=False)
                try:
                    self.cli.check(line, answer)
                except DriverError as exc:
                    log.debug("%s", exc.message)
                    refused[port] = exc.message.split(": ", 1)[-1]
                    break
        return refused
