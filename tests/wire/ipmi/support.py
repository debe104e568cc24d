"""Shared by the IPMI tests: users, a BMC with its server, and small helpers."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import time
from dataclasses import dataclass

from barecloud.wire.ipmi.client import IpmiSession
from barecloud.wire.ipmi.commands import (
    DeviceId,
)
from barecloud.wire.ipmi.handlers import BmcHandler
from barecloud.wire.ipmi.pool import BmcTarget
from barecloud.wire.ipmi.server import Bmc, BmcServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
USERS = {"admin": "secret"}


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    server: BmcServer
    bmc: Bmc
    handler: BmcHandler

    def session(self, password: str = "secret", **kw: object) -> IpmiSession:
        return IpmiSession("127.0.0.1", self.bmc.port, "admin", password, **kw)  # type: ignore[arg-type]


class CountingHandler(BmcHandler):
    """Notes when Get Device ID, the keep-alive's command, is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[float] = []

    def device_id(self) -> DeviceId:
        self.asked.append(time.monotonic())
        return super().device_id()


def target(bmc: Bmc) -> BmcTarget:
    return BmcTarget("127.0.0.1", bmc.port, "admin", "secret")


class Terminal:
    """A program on a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, argv: list[str]) -> None:
        self.fd, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.seen = b""

    def expect(self, marker: bytes, timeout: float = 10) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{marker!r} not seen; the terminal shows {self.seen!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the program ended
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{marker!r} not seen before the end: {self.seen!r}")
                self.seen += chunk
        return self.seen

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def wait(self, timeout: float = 10) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            os.close(self.fd)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
