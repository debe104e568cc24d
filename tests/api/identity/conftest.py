"""Fixtures for the Identity API tests: one keystone-mode service per module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import support
from tests.api.identity.keystone import Keystone
from tests.conftest import IN_CI


def start(base: Path, database: str, **kwargs: object) -> Iterator[support.Service]:
    url, name = None, None
    if database == "postgresql":
        why = support.pg_available()
        if why:
            if IN_CI:
                pytest.fail(f"CI needs PostgreSQL: {why}")
            pytest.skip(why)
        url, name = support.pg_create_database()
    svc = support.start_service(base / "svc", database_url=url, auth="keystone",
                                **kwargs)  # type: ignore[arg-type]
    try:
        yield svc
    finally:
        svc.stop()
        if name:
            support.pg_drop_database(name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def identity_service(request: pytest.FixtureRequest,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """A service shared by a module's tests (each test names what it creates)."""
    yield from start(tmp_path_factory.mktemp("identity"), request.param)


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
