"""Fixtures for the Identity API tests: one keystone-mode service per module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests import support
from tests.api.identity.keystone import Keystone
from tests.conftest import service_on


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def identity_service(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """A service shared by a module's tests (each test names what it creates)."""
    yield from service_on(tmp_path_factory.mktemp("identity"), request.param,
                          auth="keystone")


@pytest.fixture
def ks(identity_service: support.Service) -> Iterator[Keystone]:
    client = Keystone(identity_service)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def name() -> str:
    """A name no other test uses."""
    return f"n-{uuid.uuid4().hex[:10]}"
