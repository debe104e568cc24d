"""The ``lab`` fixture: one of our BMCs on a fresh server."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest

from barecloud.wire.ipmi.handlers import BmcHandler
from barecloud.wire.ipmi.server import BmcServer
from tests.wire.ipmi.support import IN_CI, USERS, Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    server = BmcServer()
    handler = BmcHandler()
    bmc = await server.add(handler, USERS)
    try:
        yield Lab(server, bmc, handler)
    finally:
        await server.close()


@pytest.fixture(scope="module")
def ipmitool() -> str:
    """The ipmitool binary; CI must have it (scripts/system-packages installs it)."""
    path = shutil.which("ipmitool")
    if path is None:
        why = "ipmitool is not installed (scripts/system-packages installs it)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    return path
