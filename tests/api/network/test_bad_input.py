"""Bad input: each case answers its status and Neutron error type, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.network.neutron import Neutron, error

NET = "{net}"
SUB = "{sub}"
PORT = "{port}"


@pytest.fixture
def world(neutron: Neutron) -> Iterator[dict[str, str]]:
    net = neutron.network()
    sub = neutron.subnet(net["id"], "10.20.0.0/29", enable_dhcp=False)
    port = neutron.port(net["id"], fixed_ips=[{"ip_address": "10.20.0.3"}])
    yield {"net": net["id"], "sub": sub["id"], "port": port["id"]}
    neutron.request("DELETE", f"/ports/{port['id']}")
    neutron.request("DELETE", f"/networks/{net['id']}")


CASES: list[tuple[str, str, Any, int, str]] = [
    # networks
    ("POST", "/networks", {"net": {}}, 400, "HTTPBadRequest"),
    ("POST", "/networks", {"network": {"colour": "red"}}, 400, "HTTPBadRequest"),
    ("POST", "/networks", {"network": {"admin_state_up": "maybe"}}, 400, "InvalidInput"),
    ("POST", "/networks", {"network": {"name": 7}}, 400, "HTTPBadRequest"),
    ("POST", "/networks", {"network": {"name": "x" * 256}}, 400, "HTTPBadRequest"),
    ("POST", "/networks", {"network": {"mtu": 20}}, 400, "HTTPBadRequest"),
    ("POST", "/networks", {"network": {"provider:network_type": "gre"}}, 400,
     "InvalidInput"),
    ("POST", "/networks", {"network": {"provider:network_type": "vlan",
                                       "provider:segmentation_id": 5000}}, 400,
     "InvalidInput"),
    ("POST", "/networks", {"network": {"provider:network_type": "flat",
                                       "provider:segmentation_id": 5}}, 400,
     "InvalidInput"),
    ("POST", "/networks", {"network": {"provider:network_type": "vxlan",
                                       "provider:physical_network": "p"}}, 400,
     "InvalidInput"),
    ("POST", "/networks", {"network": {"project_id": "a", "tenant_id": "b"}}, 400,
     "HTTPBadRequest"),
    ("POST", "/networks", {"networks": []}, 400, "HTTPBadRequest"),
    ("PUT", f"/networks/{NET}", {"network": {"id": "x"}}, 400, "HTTPBadRequest"),
    ("PUT", "/networks/00000000-0000-0000-0000-000000000000", {"network": {"name": "x"}},
     404, "NetworkNotFound"),
    ("DELETE", f"/networks/{NET}", None, 409, "NetworkInUse"),
    # subnets
    ("POST", "/subnets", {"subnet": {"ip_version": 4, "cidr": "10.9.0.0/24"}}, 400,
     "HTTPBadRequest"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "cidr": "10.9.0.0/24"}}, 400,
     "HTTPBadRequest"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 5,
                                     "cidr": "10.9.0.0/24"}}, 400, "HTTPBadRequest"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4}}, 400,
     "BadRequest"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.1/24"}}, 400, "HTTPBadRequest"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "banana"}}, 400, "HTTPBadRequest"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 6,
                                     "cidr": "10.9.0.0/24"}}, 400, "InvalidInput"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.0/32"}}, 400, "InvalidInput"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.20.0.0/24"}}, 400, "InvalidInput"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.0/24", "gateway_ip": "10.8.0.1"}},
     400, "InvalidInput"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.0/24", "gateway_ip": "10.9.0.5",
                                     "allocation_pools": [{"start": "10.9.0.2",
                                                           "end": "10.9.0.9"}]}},
     409, "GatewayConflictWithAllocationPools"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.0/24",
                                     "allocation_pools": [{"start": "10.9.0.2",
                                                           "end": "10.9.1.9"}]}},
     400, "OutOfBoundsAllocationPool"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.0/24",
                                     "allocation_pools": [{"start": "10.9.0.9",
                                                           "end": "10.9.0.2"}]}},
     400, "InvalidAllocationPool"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.0/24",
                                     "allocation_pools": [
                                         {"start": "10.9.0.2", "end": "10.9.0.20"},
                                         {"start": "10.9.0.10", "end": "10.9.0.30"}]}},
     409, "OverlappingAllocationPools"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.0/24",
                                     "dns_nameservers": ["1.1.1.1", "1.1.1.1"]}},
     400, "HTTPBadRequest"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 4,
                                     "cidr": "10.9.0.0/24", "ipv6_ra_mode": "slaac"}},
     400, "InvalidInput"),
    ("POST", "/subnets", {"subnet": {"network_id": NET, "ip_version": 6,
                                     "cidr": "fd00:9::/80", "ipv6_address_mode": "slaac"}},
     400, "InvalidInput"),
    ("POST", "/subnets", {"subnet": {"network_id": "00000000-0000-0000-0000-000000000000",
                                     "ip_version": 4, "cidr": "10.9.0.0/24"}}, 404,
     "NetworkNotFound"),
    ("PUT", f"/subnets/{SUB}", {"subnet": {"cidr": "10.9.0.0/24"}}, 400, "HTTPBadRequest"),
    ("DELETE", f"/subnets/{SUB}", None, 409, "SubnetInUse"),
    # ports
    ("POST", "/ports", {"port": {"name": "no network"}}, 400, "HTTPBadRequest"),
    ("POST", "/ports", {"port": {"network_id": NET, "mac_address": "zz:zz"}}, 400,
     "HTTPBadRequest"),
    ("POST", "/ports", {"port": {"network_id": NET, "mac_address": "01:00:5e:00:00:01"}},
     400, "HTTPBadRequest"),
    ("POST", "/ports", {"port": {"network_id": NET,
                                 "fixed_ips": [{"ip_address": "10.20.0.3"}]}},
     409, "IpAddressAlreadyAllocated"),
    ("POST", "/ports", {"port": {"network_id": NET,
                                 "fixed_ips": [{"ip_address": "10.99.0.3"}]}},
     400, "InvalidIpForNetwork"),
    ("POST", "/ports", {"port": {"network_id": NET, "fixed_ips": [
        {"subnet_id": SUB, "ip_address": "10.20.0.7"}]}}, 400, "InvalidIpForSubnet"),
    ("POST", "/ports", {"port": {"network_id": NET, "fixed_ips": [
        {"subnet_id": "00000000-0000-0000-0000-000000000000"}]}}, 404, "SubnetNotFound"),
    ("POST", "/ports", {"port": {"network_id": NET, "fixed_ips": [{"bogus": 1}]}}, 400,
     "HTTPBadRequest"),
    ("POST", "/ports", {"port": {"network_id": NET, "binding:vnic_type": "direct"}}, 400,
     "HTTPBadRequest"),
    ("POST", "/ports", {"port": {"network_id": NET, "binding:profile": "x"}}, 400,
     "HTTPBadRequest"),
    ("POST", "/ports", {"port": {"network_id": NET, "security_groups": ["sg"]}}, 404,
     "SecurityGroupNotFound"),
    ("POST", "/ports", {"ports": [{"network_id": NET},
                                  {"network_id": NET, "mac_address": "bad"}]}, 400,
     "HTTPBadRequest"),
    ("PUT", f"/ports/{PORT}", {"port": {"network_id": NET}}, 400, "HTTPBadRequest"),
    ("PUT", f"/ports/{PORT}", {"port": {"fixed_ips": [{"ip_address": "10.20.0.1"}]}},
     409, "IpAddressAlreadyAllocated"),
    ("GET", "/ports/00000000-0000-0000-0000-000000000000", None, 404, "PortNotFound"),
    ("GET", "/ports?fixed_ips=mac=1", None, 400, "HTTPBadRequest"),
    # quotas and RBAC
    ("PUT", "/quotas/p1", {"quota": {"network": -5}}, 400, "HTTPBadRequest"),
    ("PUT", "/quotas/p1", {"quota": {"trunk": 5}}, 400, "HTTPBadRequest"),
    ("POST", "/rbac-policies", {"rbac_policy": {"object_type": "qos_policy",
                                                "object_id": NET, "action": "access_as_shared",
                                                "target_tenant": "p"}}, 400,
     "HTTPBadRequest"),
    ("POST", "/rbac-policies", {"rbac_policy": {"object_type": "network", "object_id": NET,
                                                "action": "access_as_shared"}}, 400,
     "HTTPBadRequest"),
    ("POST", "/rbac-policies", {"rbac_policy": {
        "object_type": "network", "object_id": "00000000-0000-0000-0000-000000000000",
        "action": "access_as_shared", "target_tenant": "p"}}, 404, "NetworkNotFound"),
]


def _fill(value: Any, world: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**world)
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body", "status", "kind"), CASES,
                         ids=[f"{c[0]} {c[1]} {i}" for i, c in enumerate(CASES)])
def test_bad_input(neutron: Neutron, world: dict[str, str], method: str, path: str,
                   body: Any, status: int, kind: str) -> None:
    before = neutron.snapshot()
    quotas_before = neutron.ok("GET", "/quotas")
    kw = {} if body is None else {"json": _fill(body, world)}
    error(neutron.request(method, _fill(path, world), **kw), status, kind)
    assert neutron.snapshot() == before
    assert neutron.ok("GET", "/quotas") == quotas_before


def test_malformed_json_and_empty_body(neutron: Neutron) -> None:
    error(neutron.request("POST", "/networks", content=b"{not json"), 400, "HTTPBadRequest")
    error(neutron.request("POST", "/networks"), 400, "HTTPBadRequest")
