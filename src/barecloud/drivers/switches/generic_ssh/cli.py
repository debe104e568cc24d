"""Logging in to a switch's CLI over SSH, and typing lines as a person would.

Each session logs in (asyncssh, an interactive shell), waits for the prompt,
types ``enable`` where the dialect wants it, turns paging off, then types
each line and reads up to the next prompt, checking the answer for the
dialect's refusals.  Errors name the switch and never hold a password.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncssh

from barecloud.drivers.settings import scrub
from barecloud.drivers.switches.generic_ssh.dialects import JUNOS_EDIT, PASSWORD_PROMPT, Vendor
from barecloud.errors import (
    DriverError,
    HardwareTimeout,
    PermanentDriverError,
    RetryableDriverError,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SshCli:
    """How to reach one switch's CLI, and how to word what it says."""

    name: str
    vendor: Vendor
    address: str
    port: int
    username: str
    password: str = field(repr=False)
    key_file: str | None
    enable_secret: str = field(repr=False)
    known_hosts: str | None
    timeout: float

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}"

    def message(self, text: str) -> str:
        return scrub(f"Switch {self.name} ({self.where}): {text}", self.password,
                     self.enable_secret)

    def check(self, line: str, answer: str) -> None:
        """Raise if ``answer`` says the switch refused ``line``."""
        for pattern in self.vendor.busy:
            if pattern.search(answer):
                raise RetryableDriverError(self.message(f"`{line}`: {answer}"), 5.0)
        for pattern in self.vendor.errors:
            if pattern.search(answer):
                text = " ".join(ln.strip() for ln in answer.splitlines()
                                if ln.strip() and set(ln.strip()) != {"^"}
                                and not JUNOS_EDIT.fullmatch(ln.strip()))
                raise PermanentDriverError(self.message(f"refused `{line}`: {text}"))

    async def connect(self) -> Session:
        """A new logged-in session, enabled and unpaged (the caller closes it)."""
        try:
            conn = await asyncssh.connect(
                self.address, self.port, username=self.username,
                password=self.password or None,
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
        session = Session(self, conn, stdin, stdout)
        try:
            await session.read_until_prompt("log-in")
            if self.vendor.device_type != "juniper_junos" and session.prompt.endswith(">"):
                await session.send("enable", password_prompt=True)
                if PASSWORD_PROMPT.fullmatch(session.prompt):
                    await session.send(self.enable_secret, secret=True)
                if not session.prompt.endswith("#"):
                    raise PermanentDriverError(self.message("`enable` refused"))
            for line in self.vendor.setup:
                await session.send(line)
        except BaseException:
            conn.close()
            raise
        return session

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """A logged-in session, closed at the end; a lost connection is retryable."""
        session = await self.connect()
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


class Session:
    """One logged-in interactive shell: send a line, read the answer up to the prompt."""

    def __init__(self, cli: SshCli, conn: asyncssh.SSHClientConnection,
                 stdin: asyncssh.SSHWriter[str], stdout: asyncssh.SSHReader[str]) -> None:
        self.cli = cli
        self.conn = conn
        self.stdin = stdin
        self.stdout = stdout
        self.prompt = ""

    async def read_until_prompt(self, what: str, password_prompt: bool = False) -> str:
        """Text up to the next prompt (which is kept in ``self.prompt``)."""
        cli = self.cli
        buf = ""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + cli.timeout
        while True:
            last = buf.rsplit("\n", 1)[-1]
            if cli.vendor.prompt.fullmatch(last) or (
                password_prompt and PASSWORD_PROMPT.fullmatch(last)
            ):
                self.prompt = last.strip()
                return buf[: len(buf) - len(last)]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise HardwareTimeout(cli.message(
                    f"no prompt after `{what}` within {cli.timeout:g} s "
                    f"(last output: {last.strip()[-80:]!r})"
                ))
            try:
                chunk = await asyncio.wait_for(self.stdout.read(4096), remaining)
            except TimeoutError:
                continue
            if not chunk:
                raise RetryableDriverError(cli.message(
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
            self.cli.check(line, answer)
        return answer

    async def log_out(self) -> None:
        self.stdin.write("exit\n")
        # Let the switch take the log-out before the connection goes.
        with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
            await asyncio.wait_for(self.stdout.read(), min(self.cli.timeout, 5.0))
