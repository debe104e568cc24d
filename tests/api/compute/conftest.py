"""Fixtures for the Compute API tests: one noauth service per module on each database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests import support
from tests.api.compute.nova import Nova
from tests.conftest import service_on


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def compute_service(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """A service shared by a module's tests (each test uses its own resource class)."""
    yield from service_on(tmp_path_factory.mktemp("compute"), request.param)


@pytest.fixture
def nova(compute_service: support.Service) -> Iterator[Nova]:
    client = Nova(compute_service)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def rc() -> str:
    """A resource class no other test uses: its flavors match only this test's nodes."""
    return f"rc-{uuid.uuid4().hex[:8]}"
