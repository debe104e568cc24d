"""The ``generic-ssh`` switch: access VLANs on real switches through their CLI over SSH.

In the manner of networking-generic-switch (NGS): per vendor, the command
lines that create a VLAN (named after the network id without dashes, as
NGS does, because many switches cap VLAN names at 32 characters), make a
port an access port of it, take it off again, and save the configuration,
plus the output patterns that mean the switch refused a line.  Each session
logs in (asyncssh, an interactive shell as a person would get), waits for
the prompt, enters configuration mode, types each line and reads up to the
next prompt, checks the answer for the error patterns, leaves and saves:
``write memory`` (IOS), ``copy running-config startup-config`` (EOS) or
``commit`` (Junos, in ``configure private`` so an interrupted session
leaves nothing half-done; IOS and EOS apply each line at once, as NGS
accepts).  One session at a time per switch, as NGS's per-switch lock.

Batches: ``bind`` and ``unbind`` queue a *move* (its port and its lines,
checked before anything is queued) and wait for it.  A session takes
every move queued when it starts (at most ``max_batch``, in arrival
order): one log-in, configuration mode entered once, the lines of each
move in turn, left once, one save or commit; then each caller is told its
own outcome.  Moves queued while it runs wait for the next session.  A
move alone types exactly what one call always typed.  Outcomes:

- A line the switch refuses fails the move that typed it, with the
  switch's words; the rest of that move's lines are not typed.
  IOS / EOS: every other move of the batch goes on (the lines applied
  before and after stay applied, as NGS accepts: each line takes effect at
  once) and the batch is saved.  A move's first line is a global command
  (``vlan N`` or ``interface X``), which the CLI takes from any
  sub-mode, so the next move starts cleanly after a refusal.
  Junos: the private candidate then holds a partly typed move, so the
  driver types ``rollback 0`` and types the batch again without the
  refused move(s), in the same session, then commits: one bad port never
  takes the other moves of its batch down.  (The refused move's caller
  gets its error at once; the others get theirs after the commit.)
- If every move of a batch was refused, nothing is saved or committed and
  the session is dropped, as a single refused call always did.
- A save or commit that fails, a lost session, a timeout, a refused log-in
  or an unreachable switch fails every move of the batch that had not
  failed already, each with the same error (retryable ones stay
  retryable).
- Two moves of one port in a batch are applied in order (the last wins)
  and both succeed.
- A caller cancelled before its session starts drops its move; once typed,
  a move runs to the end of its batch.  ``close()`` stops the session under
  way and fails every move not yet saved (retryable).

Segments: ``vlan`` ones.  A ``flat`` segment is the untagged traffic of a
physical network: on an access switch that is one VLAN the operator picks,
so ``flat`` is taken only if option ``flat_vlan`` names it (the VLAN is not
created: it is the operator's), and refused otherwise.  ``vxlan`` segments
are refused (no VTEP configuration here).

Unbinding puts the port on ``default_vlan`` if set (NGS's
``ngs_port_default_vlan``), else removes its access VLAN and shuts it down,
so an unbound machine reaches nobody.

``bindings()`` parses ``show interfaces status`` on IOS and EOS (the Vlan
column; a shut-down port, a trunk, or the default VLAN is on no segment),
in a session of its own between batches;
Junos answers with what this driver last configured.  ``counters()`` is
``{}``: CLI counter formats differ too much to trust a parser of ours
(use sFlow or SNMP for top talkers on real switches).

Never a password in a message or a log: every error text is scrubbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import asyncssh

from barecloud.drivers.base import Setting
from barecloud.drivers.common import scrub
from barecloud.drivers.switches.base import PortCounters, Segment
from barecloud.errors import (
    DriverError,
    HardwareTimeout,
    InvalidParameter,
    PermanentDriverError,
    RetryableDriverError,
)

log = logging.getLogger(__name__)

DEVICE_TYPES = ("cisco_ios", "arista_eos", "juniper_junos")

_IOS_PROMPT = re.compile(r"[\w.\-/]+(\([\w.\-/]+\))?[>#]\s*")
_JUNOS_PROMPT = re.compile(r"[\w.\-]+@[\w.\-]+[>#%]\s*")
_JUNOS_EDIT = re.compile(r"\[edit[^\]]*\]")
_PASSWORD_PROMPT = re.compile(r"[Pp]assword:\s*")

# (full, short) interface name forms of IOS and EOS `show interfaces status`.
_ABBREVIATIONS = (
    ("TwentyFiveGigE", "Twe"), ("HundredGigE", "Hu"), ("FortyGigabitEthernet", "Fo"),
    ("TenGigabitEthernet", "Te"), ("GigabitEthernet", "Gi"), ("FastEthernet", "Fa"),
    ("Port-channel", "Po"), ("Ethernet", "Et"),
)


def abbreviate(port: str) -> str:
    for long, short in _ABBREVIATIONS:
        if port.startswith(long):
            return short + port[len(long):]
    return port


def vlan_name(segment: Segment) -> str:
    """The VLAN's name on the switch: the network id without dashes (NGS), else its key."""
    if not segment.network_id:
        return segment.key
    try:
        return uuid.UUID(segment.network_id).hex
    except ValueError:
        return re.sub(r"[^A-Za-z0-9_.]", "", segment.network_id)[:32] or segment.key


@dataclass(frozen=True)
class Vendor:
    """One CLI dialect: prompts, mode changes, command templates and refusals."""

    device_type: str
    prompt: re.Pattern[str]
    setup: tuple[str, ...]           # after log-in, e.g. no paging
    enter_config: str
    leave_config: str
    commit: str | None               # typed in config mode before leaving (Junos)
    save: str | None                 # typed after leaving config mode (IOS, EOS)
    errors: tuple[re.Pattern[str], ...]
    # Errors worth retrying later (someone else holds the configuration).
    busy: tuple[re.Pattern[str], ...] = ()

    def create_vlan(self, vlan: int, name: str) -> list[str]:
        if self.device_type == "juniper_junos":
            return [f"set vlans {name} vlan-id {vlan}"]
        return [f"vlan {vlan}", f"name {name}", "exit"]

    def bind(self, port: str, vlan: int) -> list[str]:
        if self.device_type == "juniper_junos":
            return [
                # An access port has one VLAN: drop whatever it had first.
                f"delete interfaces {port} unit 0 family ethernet-switching vlan members",
                f"set interfaces {port} unit 0 family ethernet-switching vlan members {vlan}",
                f"delete interfaces {port} disable",
            ]
        return [f"interface {port}", "switchport mode access",
                f"switchport access vlan {vlan}", "no shutdown", "exit"]

    def unbind(self, port: str, default_vlan: int | None) -> list[str]:
        if default_vlan is not None:
            return self.bind(port, default_vlan)
        if self.device_type == "juniper_junos":
            return [
                f"delete interfaces {port} unit 0 family ethernet-switching vlan members",
                f"set interfaces {port} disable",
            ]
        return [f"interface {port}", "no switchport access vlan", "shutdown", "exit"]


_CLI_ERRORS = (
    re.compile(r"^% ?Invalid input", re.M),
    re.compile(r"^% ?Incomplete command", re.M),
    re.compile(r"^% ?Ambiguous command", re.M),
    re.compile(r"^% ?Unrecognized command", re.M),
    re.compile(r"^% ?Error", re.M | re.I),
)

VENDORS: dict[str, Vendor] = {
    "cisco_ios": Vendor(
        "cisco_ios", _IOS_PROMPT, ("terminal length 0",), "configure terminal", "end",
        None, "write memory", _CLI_ERRORS,
    ),
    "arista_eos": Vendor(
        "arista_eos", _IOS_PROMPT, ("terminal length 0",), "configure terminal", "end",
        None, "copy running-config startup-config",
        (*_CLI_ERRORS, re.compile(r"% VLAN \d+ is already mapped")),
    ),
    "juniper_junos": Vendor(
        "juniper_junos", _JUNOS_PROMPT, ("set cli screen-length 0",), "configure private",
        "exit configuration-mode", "commit", None,
        (re.compile(r"^\s*error:", re.M), re.compile(r"syntax error", re.M),
         re.compile(r"unknown command", re.M), re.compile(r"missing argument", re.M)),
        busy=(re.compile(r"configuration database (locked|modified)"),),
    ),
}


class _Session:
    """One logged-in interactive shell: send a line, read the answer up to the prompt."""

    def __init__(self, driver: GenericSshSwitch, conn: asyncssh.SSHClientConnection,
                 stdin: asyncssh.SSHWriter[str], stdout: asyncssh.SSHReader[str]) -> None:
        self.driver = driver
        self.conn = conn
        self.stdin = stdin
        self.stdout = stdout
        self.prompt = ""

    async def read_until_prompt(self, what: str, password_prompt: bool = False) -> str:
        """Text up to the next prompt (which is kept in ``self.prompt``)."""
        vendor = self.driver.vendor
        buf = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.driver.timeout
        while True:
            last = buf.rsplit("\n", 1)[-1]
            if vendor.prompt.fullmatch(last) or (
                password_prompt and _PASSWORD_PROMPT.fullmatch(last)
            ):
                self.prompt = last.strip()
                return buf[: len(buf) - len(last)]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise HardwareTimeout(self.driver.message(
                    f"no prompt after `{what}` within {self.driver.timeout:g} s "
                    f"(last output: {last.strip()[-80:]!r})"
                ))
            try:
                chunk = await asyncio.wait_for(self.stdout.read(4096), remaining)
            except TimeoutError:
                continue
            if not chunk:
                raise RetryableDriverError(self.driver.message(
                    f"the switch closed the session after `{what}`"
                ))
            buf += chunk.replace("\r\n", "\n").replace("\r", "")

    async def send(self, line: str, secret: bool = False, password_prompt: bool = False,
                   check: bool = True) -> str:
        """Type ``line``; the switch's answer (echo removed), checked for refusals."""
        shown = "******" if secret else line
        self.stdin.write(line + "\n")
        answer = await self.read_until_prompt(shown, password_prompt)
        first, _, rest = answer.partition("\n")
        if first.strip() == line.strip():
            answer = rest
        answer = answer.strip()
        if check and not secret:
            self.driver.check(line, answer)
        return answer


@dataclass(eq=False)
class _Move:
    """One queued bind or unbind: its lines, and the awaitable its caller waits on."""

    port: str
    lines: list[str]
    segment: Segment | None
    future: asyncio.Future[None]

    def fail(self, exc: BaseException) -> None:
        if self.future.done():
            return
        # A copy each: one exception object raised in many tasks would share
        # (and grow) one traceback.
        with contextlib.suppress(Exception):
            exc = copy.copy(exc)
        self.future.set_exception(exc)


class GenericSshSwitch:
    driver_name: ClassVar[str] = "generic-ssh"
    options: ClassVar[tuple[Setting, ...]] = (
        Setting("device_type", "The switch's CLI: cisco_ios, arista_eos or juniper_junos.",
                required=True),
        Setting("address", "IP address or host name of the switch's SSH service.",
                required=True),
        Setting("port", "TCP port of the SSH service.", type="integer", default=22),
        Setting("username", "SSH user name.", required=True),
        Setting("password", "SSH password (needed unless key_file is given).", secret=True),
        Setting("key_file", "Path of a private key to log in with."),
        Setting("enable_secret", "IOS/EOS enable password, if `enable` asks for one "
                "(default: the password).", secret=True),
        Setting("known_hosts", "A known_hosts file the switch's host key must be in "
                "(default: not checked, as netmiko does)."),
        Setting("default_vlan", "VLAN an unbound port goes to (NGS ngs_port_default_vlan); "
                "default: the port is shut down.", type="integer"),
        Setting("flat_vlan", "VLAN that carries flat segments; default: flat is refused.",
                type="integer"),
        Setting("ports", "The ports barecloud may configure and report (default: all).",
                type="list", default=[]),
        Setting("timeout", "Seconds to log in, and to wait for each prompt.", type="number",
                default=30.0),
        Setting("max_batch", "Most port moves one SSH session applies (moves queued "
                "while a session runs share the next one).", type="integer", default=64),
    )

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        device_type = options["device_type"]
        if device_type not in VENDORS:
            raise InvalidParameter(
                f"Switch {name!r}: device_type must be one of {', '.join(DEVICE_TYPES)}, "
                f"not {device_type!r}."
            )
        self.vendor = VENDORS[device_type]
        self.address: str = options["address"]
        self.port: int = options["port"]
        if not 0 < self.port < 65536:
            raise InvalidParameter(f"Switch {name!r}: port must be 1-65535, not {self.port}.")
        self.username: str = options["username"]
        self._password: str = options.get("password") or ""
        self.key_file: str | None = options.get("key_file") or None
        if not self._password and not self.key_file:
            raise InvalidParameter(f"Switch {name!r}: give a password or a key_file.")
        self._enable_secret: str = options.get("enable_secret") or self._password
        self.known_hosts: str | None = options.get("known_hosts") or None
        self.default_vlan: int | None = options.get("default_vlan")
        self.flat_vlan: int | None = options.get("flat_vlan")
        for opt in ("default_vlan", "flat_vlan"):
            value = options.get(opt)
            if value is not None and not 1 <= value <= 4094:
                raise InvalidParameter(f"Switch {name!r}: {opt} must be 1-4094, not {value}.")
        self.ports: tuple[str, ...] = tuple(options.get("ports") or ())
        self.timeout: float = options.get("timeout") or 30.0
        if self.timeout <= 0:
            raise InvalidParameter(f"Switch {name!r}: timeout must be a positive number.")
        max_batch = options.get("max_batch")
        self.max_batch: int = 64 if max_batch is None else max_batch
        if self.max_batch < 1:
            raise InvalidParameter(f"Switch {name!r}: max_batch must be at least 1.")
        # Held by each session (a batch of moves, or bindings()).
        self._lock = asyncio.Lock()
        self._queue: list[_Move] = []
        self._worker: asyncio.Task[None] | None = None
        # What this driver last configured (Junos bindings; network ids of VLANs).
        self._configured: dict[str, Segment | None] = {}

    def __repr__(self) -> str:
        return (f"GenericSshSwitch({self.name!r}, {self.vendor.device_type}, "
                f"{self.username}@{self.address}:{self.port})")

    # --- messages ------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"

    def message(self, text: str) -> str:
        return scrub(f"Switch {self.name} ({self.where}): {text}", self._password,
                     self._enable_secret)

    def check(self, line: str, answer: str) -> None:
        """Raise if ``answer`` says the switch refused ``line``."""
        for pattern in self.vendor.busy:
            if pattern.search(answer):
                raise RetryableDriverError(self.message(f"`{line}`: {answer}"), 5.0)
        for pattern in self.vendor.errors:
            if pattern.search(answer):
                text = " ".join(ln.strip() for ln in answer.splitlines()
                                if ln.strip() and set(ln.strip()) != {"^"}
                                and not _JUNOS_EDIT.fullmatch(ln.strip()))
                raise PermanentDriverError(self.message(f"refused `{line}`: {text}"))

    # --- sessions ------------------------------------------------------------------------

    async def _connect(self) -> _Session:
        try:
            conn = await asyncssh.connect(
                self.address, self.port, username=self.username,
                password=self._password or None,
                client_keys=[self.key_file] if self.key_file else None,
                known_hosts=self.known_hosts, config=None,
                connect_timeout=self.timeout, login_timeout=self.timeout,
            )
        except asyncssh.PermissionDenied:
            raise PermanentDriverError(self.message(
                f"SSH authentication as {self.username!r} refused (wrong password or key)"
            )) from None
        except asyncssh.HostKeyNotVerifiable as exc:
            raise PermanentDriverError(self.message(
                f"host key not in {self.known_hosts}: {exc.reason}"
            )) from None
        except TimeoutError:
            raise HardwareTimeout(self.message(
                f"no SSH log-in within {self.timeout:g} s"
            )) from None
        except (OSError, asyncssh.Error) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise RetryableDriverError(self.message(f"cannot connect over SSH: {reason}"),
                                       10.0) from None
        try:
            stdin, stdout, _ = await conn.open_session(term_type="vt100",
                                                       term_size=(200, 24))
        except asyncssh.Error as exc:
            conn.close()
            raise RetryableDriverError(self.message(f"no shell: {exc.reason}")) from None
        session = _Session(self, conn, stdin, stdout)
        try:
            await session.read_until_prompt("log-in")
            if self.vendor.device_type != "juniper_junos" and session.prompt.endswith(">"):
                await session.send("enable", password_prompt=True)
                if _PASSWORD_PROMPT.fullmatch(session.prompt):
                    await session.send(self._enable_secret, secret=True)
                if not session.prompt.endswith("#"):
                    raise PermanentDriverError(self.message("`enable` refused"))
            for line in self.vendor.setup:
                await session.send(line)
        except BaseException:
            conn.close()
            raise
        return session

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[_Session]:
        """A logged-in session, closed at the end; a lost connection is retryable."""
        session = await self._connect()
        try:
            yield session
        except (asyncssh.Error, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise RetryableDriverError(self.message(f"session lost: {reason}")) from None
        except DriverError as exc:
            log.debug("%s", exc.message)
            raise
        finally:
            session.conn.close()
            with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
                await asyncio.wait_for(session.conn.wait_closed(), 5)

    async def _log_out(self, session: _Session) -> None:
        session.stdin.write("exit\n")
        # Let the switch take the log-out before the connection goes.
        with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
            await asyncio.wait_for(session.stdout.read(), min(self.timeout, 5.0))

    async def _type_moves(self, session: _Session, moves: list[_Move]) -> list[_Move]:
        """Type each move's lines in config mode; the moves a line of which was refused.

        A refusal fails that move (its caller is told at once) and skips its
        remaining lines; the session goes on with the next move.
        """
        refused: list[_Move] = []
        for move in moves:
            for line in move.lines:
                answer = await session.send(line, check=False)
                try:
                    self.check(line, answer)
                except DriverError as exc:
                    log.debug("%s", exc.message)
                    move.fail(exc)
                    refused.append(move)
                    break
        return refused

    async def _run_batch(self, batch: list[_Move]) -> None:
        """One session for ``batch``: log in, type every move, save, tell each caller."""
        vendor = self.vendor
        log.debug("switch %s: one session for %d moves (%d config lines)", self.name,
                  len(batch), sum(len(m.lines) for m in batch))
        async with self._session() as session:
            await session.send(vendor.enter_config)
            pending = batch
            while True:
                refused = await self._type_moves(session, pending)
                if not refused:
                    break
                pending = [m for m in pending if m not in refused]
                if not pending:
                    # Nothing to save: drop the session, as one refused call always did.
                    return
                if vendor.device_type != "juniper_junos":
                    break  # IOS/EOS: applied lines stay; save the rest of the batch
                # Junos: the candidate holds the refused move's first lines.
                # Start the candidate again and type the batch without it.
                log.debug("switch %s: %d refused, typing the other %d moves again",
                          self.name, len(refused), len(pending))
                await session.send("rollback 0")
            if vendor.commit:
                await session.send(vendor.commit)
            await session.send(vendor.leave_config)
            if vendor.save:
                await session.send(vendor.save)
            for move in pending:
                self._configured[move.port] = move.segment
            await self._log_out(session)
        # Saved, and the session is over: tell the callers.
        for move in pending:
            if not move.future.done():
                move.future.set_result(None)

    async def _drain(self) -> None:
        """Run sessions until the queue is empty (the queue's one worker task)."""
        batch: list[_Move] = []
        try:
            while self._queue:
                async with self._lock:
                    # Moves queued while waiting for the lock join this session;
                    # moves whose caller gave up before it starts are dropped.
                    self._queue = [m for m in self._queue if not m.future.done()]
                    batch = self._queue[: self.max_batch]
                    del self._queue[: len(batch)]
                    if not batch:
                        continue
                    try:
                        await self._run_batch(batch)
                    except DriverError as exc:
                        for move in batch:
                            move.fail(exc)
                    except Exception as exc:  # a bug: tell the callers, keep serving
                        log.exception("switch %s: batch failed", self.name)
                        for move in batch:
                            move.fail(exc)
                    batch = []
        except asyncio.CancelledError:
            closed = RetryableDriverError(self.message("driver closed before the move was saved"))
            for move in (*batch, *self._queue):
                move.fail(closed)
            self._queue.clear()
            raise
        finally:
            self._worker = None

    async def _move(self, port: str, lines: list[str], segment: Segment | None) -> None:
        """Queue one move and wait until its batch is saved (or it failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Move(port, lines, segment, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain(),
                                               name=f"switch {self.name} sessions")
        await future

    # --- SwitchDriver --------------------------------------------------------------------

    def _vlan_of(self, segment: Segment) -> int:
        if segment.network_type == "vlan" and segment.segmentation_id is not None:
            if not 1 <= segment.segmentation_id <= 4094:
                raise PermanentDriverError(self.message(
                    f"VLAN {segment.segmentation_id} is not 1-4094"
                ))
            return segment.segmentation_id
        if segment.network_type == "flat" and self.flat_vlan is not None:
            return self.flat_vlan
        raise PermanentDriverError(self.message(
            f"switch {self.name} supports vlan segments only"
            + (" (and flat ones once flat_vlan is set)" if segment.network_type == "flat"
               else f", not {segment.network_type}")
        ))

    def _check_port(self, port: str) -> None:
        if not port or any(c.isspace() for c in port) or any(c in port for c in ";|\n"):
            raise PermanentDriverError(self.message(f"{port!r} is not a port name"))
        if self.ports and port not in self.ports:
            raise PermanentDriverError(self.message(
                f"{port!r} is not one of its ports ({', '.join(self.ports)})"
            ))

    async def bind(self, port: str, segment: Segment) -> None:
        await self._move(port, self.commands_for_bind(port, segment), segment)

    async def unbind(self, port: str) -> None:
        self._check_port(port)
        await self._move(port, self.vendor.unbind(port, self.default_vlan), None)

    def commands_for_bind(self, port: str, segment: Segment) -> list[str]:
        """The configuration lines ``bind`` types (between entering config mode and saving)."""
        self._check_port(port)
        vlan = self._vlan_of(segment)
        lines = [] if segment.network_type == "flat" else self.vendor.create_vlan(
            vlan, vlan_name(segment))
        return [*lines, *self.vendor.bind(port, vlan)]

    async def bindings(self) -> dict[str, Segment | None]:
        if self.vendor.device_type == "juniper_junos":
            known = self._configured
            return {p: known.get(p) for p in self.ports} if self.ports else dict(known)
        async with self._lock, self._session() as session:
            status = await session.send("show interfaces status")
            await self._log_out(session)
        return self.parse_status(status)

    def parse_status(self, text: str) -> dict[str, Segment | None]:
        """Ports and segments from IOS/EOS ``show interfaces status`` (by header columns)."""
        lines = text.splitlines()
        header = next((i for i, ln in enumerate(lines) if ln.startswith("Port ")), None)
        if header is None:
            raise PermanentDriverError(self.message(
                "cannot read `show interfaces status`: no header line"
            ))
        head = lines[header]
        try:
            status_at, vlan_at = head.index("Status"), head.index("Vlan")
        except ValueError:
            raise PermanentDriverError(self.message(
                "cannot read `show interfaces status`: no Status or Vlan column"
            )) from None
        after_vlan = re.search(r"\S", head[vlan_at + 4:])
        vlan_end = vlan_at + 4 + after_vlan.start() if after_vlan else len(head)
        full = {abbreviate(p): p for p in (*self.ports, *self._configured)}
        by_vlan: dict[int, Segment] = {}
        for seg in self._configured.values():
            if seg is not None and seg.network_type == "vlan" and seg.segmentation_id:
                by_vlan[seg.segmentation_id] = seg
        unbound = {self.default_vlan if self.default_vlan is not None else 1}
        out: dict[str, Segment | None] = {}
        for row in lines[header + 1:]:
            if not row.strip() or row.startswith("-"):
                continue
            shown = row.split()[0]
            port = full.get(shown, shown)
            if self.ports and port not in self.ports:
                continue
            status = row[status_at:vlan_at].strip()
            vlan_text = row[vlan_at:vlan_end].strip()
            segment: Segment | None = None
            if status != "disabled" and vlan_text.isdigit() and int(vlan_text) not in unbound:
                vlan = int(vlan_text)
                if vlan == self.flat_vlan:
                    known = self._configured.get(port)
                    segment = known if known and known.network_type == "flat" else Segment(
                        "flat", None)
                else:
                    segment = by_vlan.get(vlan, Segment("vlan", vlan))
            out[port] = segment
        return out

    async def counters(self) -> dict[str, PortCounters]:
        """Not read from the CLI (see the module docstring): always empty."""
        return {}

    async def close(self) -> None:
        """Stop the sessions' worker: a move still queued or running fails (retryable).

        Nothing else stays open: every session ends with its batch.
        """
        worker = self._worker
        if worker is not None:
            worker.cancel()
            await asyncio.wait({worker})
            if self._worker is worker:  # cancelled before it ever ran
                self._worker = None
        closed = RetryableDriverError(self.message("driver closed before the move was saved"))
        for move in self._queue:
            move.fail(closed)
        self._queue.clear()


