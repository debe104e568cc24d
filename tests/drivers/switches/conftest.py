"""Switch driver fixtures: drivers the registry built are closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from barecloud.drivers import switches


@pytest.fixture(autouse=True)
async def _close_switches() -> AsyncIterator[None]:
    yield
    await switches.close_all()
