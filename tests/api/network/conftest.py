"""Fixtures for the Network API tests: one service per module on each database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import support
from tests.api.network.neutron import Neutron
from tests.conftest import service_on


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def network_service(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """A noauth service shared by a module's tests (each test makes its own networks)."""
    yield from service_on(tmp_path_factory.mktemp("network"), request.param)


@pytest.fixture
def neutron(network_service: support.Service) -> Iterator[Neutron]:
    client = Neutron(network_service)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def keystone(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """A service with Identity: ``barecloud-admin`` (admin) and ``barecloud`` (demo)."""
    yield from service_on(tmp_path_factory.mktemp("network-ks"), request.param,
                          auth="keystone")


@pytest.fixture
def admin(keystone: support.Service) -> Iterator[Neutron]:
    client = Neutron(keystone, keystone.token("barecloud-admin"))
    yield client
    client.close()


@pytest.fixture
def demo(keystone: support.Service) -> Iterator[Neutron]:
    client = Neutron(keystone, keystone.token("barecloud"))
    yield client
    client.close()
