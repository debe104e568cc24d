"""The ``lab`` fixture: one of our BMCs on a fresh server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from barecloud.wire.ipmi.handlers import BmcHandler
from barecloud.wire.ipmi.server import BmcServer
from tests.wire.ipmi.support import USERS, Lab


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    server = BmcServer()
    handler = BmcHandler()
    bmc = await server.add(handler, USERS)
    try:
        yield Lab(server, bmc, handler)
    finally:
        await server.close()
