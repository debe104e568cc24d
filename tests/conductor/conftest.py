"""Engine fixtures: a Runtime with a running in-process Conductor, on both databases.

The helpers that drive nodes and wait for them (``wait_state``: poll the
database until a node reaches a state, or fail with its last_error and
history) live in :mod:`tests.conductor.helpers`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from barecloud.conductor.engine import Conductor
from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.drivers import fake
from barecloud.services.context import Runtime

RuntimeFactory = Callable[..., contextlib.AbstractAsyncContextManager[Runtime]]


@contextlib.asynccontextmanager
async def running(db: Database, settings: Settings) -> AsyncIterator[Runtime]:
    conductor = Conductor(db, settings)
    await conductor.start()
    try:
        yield Runtime(db, settings, local_conductor=conductor)
    finally:
        await conductor.stop()


@pytest.fixture
async def rt(database: Database, settings: Settings) -> AsyncIterator[Runtime]:
    """Runtime(db, settings, local_conductor=Conductor(db, settings)), started."""
    async with running(database, settings) as runtime:
        yield runtime


@pytest.fixture
def make_runtime(database: Database, settings: Settings) -> RuntimeFactory:
    """``async with make_runtime(max_concurrent_deploys=2) as rt:`` with other settings."""

    def factory(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Runtime]:
        return running(database, settings.model_copy(update=overrides))

    return factory


@pytest.fixture(autouse=True)
def _forget_fake_machines() -> Iterator[None]:
    yield
    fake.MACHINES.clear()
