"""Fixtures for the Image API tests: one service per module on each database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import support
from tests.api.image.glance import Glance
from tests.conftest import IN_CI


def start(base: Path, database: str) -> Iterator[support.Service]:
    url, name = None, None
    if database == "postgresql":
        why = support.pg_available()
        if why:
            if IN_CI:
                pytest.fail(f"CI needs PostgreSQL: {why}")
            pytest.skip(why)
        url, name = support.pg_create_database()
    svc = support.start_service(base / "svc", database_url=url)
    try:
        yield svc
    finally:
        svc.stop()
        if name:
            support.pg_drop_database(name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def image_service(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """A service shared by a module's tests (each test names its own images)."""
    yield from start(tmp_path_factory.mktemp("image"), request.param)


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
