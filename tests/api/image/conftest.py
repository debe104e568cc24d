"""Fixtures for the Image API tests: one service per module on each database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests import support
from tests.api.image.glance import Glance
from tests.conftest import service_on


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def image_service(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """A service shared by a module's tests (each test names its own images)."""
    yield from service_on(tmp_path_factory.mktemp("image"), request.param)


@pytest.fixture
def glance(image_service: support.Service) -> Iterator[Glance]:
    client = Glance(image_service)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def tag() -> str:
    """A tag no other test uses: listing by it sees only this test's images."""
    return f"t-{uuid.uuid4().hex[:10]}"
