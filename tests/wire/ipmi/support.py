"""Shared by the IPMI tests: users, a BMC with its server, and small helpers."""

from __future__ import annotations

import os
import socket
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
