"""IPAM as pure functions, segment ranges, and the migration against the models."""

from __future__ import annotations

import ipaddress

import pytest

from barecloud.db import network_models  # noqa: F401  (its tables join Base.metadata)
from barecloud.db.session import Database
from barecloud.services.network import ipam, segments
from barecloud.services.network.errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
)
from tests.db.schema import differences

TABLES = {"networks", "subnets", "network_ports", "ip_allocations", "network_rbac",
          "network_quotas", "switch_port_samples"}


def test_default_pools_leave_out_the_gateway_and_edges() -> None:
    net = ipaddress.ip_network("10.0.0.0/29")
    assert ipam.default_pools(net, ipaddress.ip_address("10.0.0.1")) == [
        {"start": "10.0.0.2", "end": "10.0.0.6"}]
    assert ipam.default_pools(net, None) == [{"start": "10.0.0.1", "end": "10.0.0.6"}]
    v6 = ipaddress.ip_network("fd00::/126")
    assert ipam.default_pools(v6, ipaddress.ip_address("fd00::1")) == [
        {"start": "fd00::2", "end": "fd00::3"}]


@pytest.mark.parametrize(("pools", "gateway", "error"), [
    ([{"start": "10.0.0.9", "end": "10.0.0.2"}], None, InvalidAllocationPool),
    ([{"start": "10.0.0.0", "end": "10.0.0.5"}], None, OutOfBoundsAllocationPool),
    ([{"start": "10.0.0.2", "end": "10.0.0.255"}], None, OutOfBoundsAllocationPool),
    ([{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.9", "end": "10.0.0.20"}],
     None, OverlappingAllocationPools),
    ([{"start": "10.0.0.2", "end": "10.0.0.9"}], "10.0.0.5", GatewayConflictWithAllocationPools),
])
def test_pool_mistakes(pools: list[dict[str, str]], gateway: str | None,
                       error: type[Exception]) -> None:
    net = ipaddress.ip_network("10.0.0.0/24")
    with pytest.raises(error):
        ipam.check_pools(net, pools, ipaddress.ip_address(gateway) if gateway else None)


def test_first_free_and_eui64() -> None:
    pools = [{"start": "10.0.0.2", "end": "10.0.0.3"}, {"start": "10.0.0.8", "end": "10.0.0.8"}]
    assert ipam.first_free(pools, []) == "10.0.0.2"
    assert ipam.first_free(pools, ["10.0.0.2", "10.0.0.3"]) == "10.0.0.8"
    assert ipam.first_free(pools, ["10.0.0.2", "10.0.0.3", "10.0.0.8"]) is None
    net = ipaddress.ip_network("2001:db8::/64")
    assert ipam.eui64(net, "fa:16:3e:12:34:56") == "2001:db8::f816:3eff:fe12:3456"


def test_segment_ranges() -> None:
    assert segments.parse_ranges("5000:5002, 7000:7000,bad,9:1") == [(5000, 5002),
                                                                       (7000, 7000)]


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, TABLES) == []
