"""Driver fixtures: BMCs in the test's event loop, and a running conductor on both databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.drivers import ipmi, redfish
from barecloud.drivers.base import NodeView
from barecloud.services.context import Runtime
from barecloud.wire.ipmi.commands import PowerAction
from barecloud.wire.ipmi.handlers import BmcHandler
from barecloud.wire.ipmi.server import BmcServer
from tests.conductor.conftest import running

USERS = {"admin": "s3cret-pw"}


class Machine(BmcHandler):
    """A chassis that acknowledges at once and gets there ``delay`` seconds later.

    ``ignores_acpi``: the OS never answers a soft power off (a hung machine).
    """

    def __init__(self, power_on: bool = False, delay: float = 0.0,
                 ignores_acpi: bool = False) -> None:
        super().__init__(power_on)
        self.delay = delay
        self.ignores_acpi = ignores_acpi
        self.actions: list[str] = []

    def chassis_control(self, action: PowerAction) -> None:
        self.actions.append(str(action))
        if action is PowerAction.SOFT and self.ignores_acpi:
            return
        if self.delay:
            asyncio.get_running_loop().call_later(self.delay, super().chassis_control, action)
        else:
            super().chassis_control(action)


@pytest.fixture(autouse=True)
async def _close_connections() -> AsyncIterator[None]:
    """Log out of the BMCs and close the HTTP clients the test's loop opened."""
    yield
    await ipmi.close_sessions()
    await redfish.close_clients()


@pytest.fixture
async def bmcs() -> AsyncIterator[BmcServer]:
    """BMCs served in the test's loop (``await bmcs.add(Machine(), USERS)``)."""
    server = BmcServer()
    try:
        yield server
    finally:
        await ipmi.close_sessions()  # while the BMCs still answer the log-outs
        await server.close()


def ipmi_info(port: int, **extra: Any) -> dict[str, Any]:
    return {"ipmi_address": "127.0.0.1", "ipmi_port": port, "ipmi_username": "admin",
            "ipmi_password": USERS["admin"], **extra}


def view(driver: str, driver_info: dict[str, Any], **kw: Any) -> NodeView:
    """A node as drivers see it, without a database."""
    values: dict[str, Any] = {
        "uuid": str(uuid.uuid4()), "name": None, "driver": driver, "driver_info": driver_info,
        "driver_internal_info": {}, "properties": {}, "instance_info": {},
        "power_state": None, "provision_state": "manageable",
    }
    values.update(kw)
    return NodeView(**values)


@pytest.fixture
async def rt(database: Database, settings: Settings) -> AsyncIterator[Runtime]:
    """A Runtime with a started in-process Conductor (as in tests/conductor)."""
    async with running(database, settings) as runtime:
        yield runtime
