"""Fixtures for the Bare Metal API tests: httpx clients on a real barecloud."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import support
from tests.api.baremetal.ironic import Ironic


@pytest.fixture
def api(service: support.Service) -> Iterator[Ironic]:
    """An Ironic client at the latest microversion on a fresh service (SQLite)."""
    client = Ironic(service)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def module_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """One service for a module of read-mostly tests (no periodic power sync, so
    that nothing but the tests' own requests changes what they compare)."""
    svc = support.start_service(tmp_path_factory.mktemp("bm") / "svc",
                                extra_env={"BARECLOUD_POWER_SYNC_INTERVAL": "3600"})
    try:
        yield svc
    finally:
        svc.stop()
