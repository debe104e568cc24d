"""openstacksdk, unmodified, against a real barecloud: the Bare Metal API as Ironic's.

The connection comes from the clouds.yaml the service writes (cloud
``barecloud-admin``: a password, a token from Identity, the catalog); nothing
here knows barecloud is not Ironic.  409 answers are not retried (the sdk retries
them by default, because Ironic answers 409 for a busy node), so that the
conflicts these tests provoke fail fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions, utils
from openstack.connection import Connection

from tests import support

Connect = Callable[[support.Service], Connection]


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connect]:
    made: list[Connection] = []

    def make(svc: support.Service) -> Connection:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(svc.clouds_yaml))
        monkeypatch.delenv("OS_CLOUD", raising=False)
        conn = openstack.connect(cloud="barecloud-admin", baremetal_status_code_retries=0)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def service(keystone_service: support.Service) -> support.Service:
    """These tests speak as the clients do: with Identity."""
    return keystone_service


@pytest.fixture
def pg_service(keystone_pg_service: support.Service) -> support.Service:
    return keystone_pg_service


@pytest.fixture
def conn(service: support.Service, connect: Connect) -> Connection:
    return connect(service)


@pytest.mark.parametrize("which", ["service", "pg_service"])
def test_node_lifecycle(which: str, request: pytest.FixtureRequest, connect: Connect) -> None:
    """enroll → manage → provide → deploy → undeploy, with ports, power,
    maintenance, traits and validation on the way, on SQLite and PostgreSQL."""
    svc: support.Service = request.getfixturevalue(which)
    bm = connect(svc).baremetal

    node = bm.create_node(driver="fake-hardware", name=f"life-{which}", resource_class="bm",
                          driver_info={"fake_password": "hunter2"},
                          properties={"cpus": 4, "memory_mb": 8192})
    assert node.provision_state == "enroll"
    assert node.driver_info == {"fake_password": "******"}
    assert node.microversion == "1.92"

    port = bm.create_port(node_id=node.id, address="52:54:00:12:34:56")
    assert port.address == "52:54:00:12:34:56" and port.node_id == node.id
    with pytest.raises(exceptions.ConflictException, match="already exists"):
        bm.create_port(node_id=node.id, address="52:54:00:12:34:56")
    with pytest.raises(exceptions.ConflictException):
        bm.create_port(node_id=node.id, address="52-54-00-12-34-56")  # same MAC
    assert [p.address for p in bm.ports(node=node.id, details=True)] == ["52:54:00:12:34:56"]

    node = bm.set_node_provision_state(node, "manage", wait=True, timeout=60)
    assert node.provision_state == "manageable" and node.power_state == "power off"
    node = bm.set_node_provision_state(node, "provide", wait=True, timeout=60)
    assert node.provision_state == "available" and node.target_provision_state is None

    result = bm.validate_node(node, required=("power", "management", "boot", "deploy"))
    assert result["power"].result is True and result["deploy"].result is True

    bm.set_node_maintenance(node, reason="re-cabling")
    node = bm.get_node(node.id)
    assert node.is_maintenance is True and node.maintenance_reason == "re-cabling"
    assert [n.id for n in bm.nodes(is_maintenance=True)] == [node.id]
    with pytest.raises(exceptions.BadRequestException, match="maintenance"):
        bm.set_node_provision_state(node, "active")
    bm.unset_node_maintenance(node)
    assert bm.get_node(node.id).is_maintenance is False

    bm.add_node_trait(node, "CUSTOM_GPU")
    bm.set_node_traits(node, ["CUSTOM_GPU", "CUSTOM_FAST"])
    assert sorted(bm.get_node(node.id).traits) == ["CUSTOM_FAST", "CUSTOM_GPU"]
    bm.remove_node_trait(node, "CUSTOM_GPU")
    assert bm.get_node(node.id).traits == ["CUSTOM_FAST"]

    node = bm.set_node_provision_state(node, "active", wait=True, timeout=60)
    assert node.provision_state == "active" and node.power_state == "power on"
    assert node.last_error is None
    with pytest.raises(exceptions.ConflictException, match="active"):
        bm.delete_node(node)

    bm.set_node_power_state(node, "power off", wait=True, timeout=60)
    assert bm.get_node(node.id).power_state == "power off"
    bm.set_node_power_state(node, "power on", wait=True, timeout=60)
    assert bm.get_node(node.id).power_state == "power on"

    node = bm.set_node_provision_state(node, "deleted", wait=True, timeout=60)
    assert node.provision_state == "available" and node.power_state == "power off"
    assert bm.get_node(node.id).traits == ["CUSTOM_FAST"]

    bm.delete_port(port)
    bm.delete_node(node)
    with pytest.raises(exceptions.NotFoundException):
        bm.get_node(node.id)
    assert list(bm.nodes()) == []


def test_failed_deploy_is_reported(conn: Connection) -> None:
    bm = conn.baremetal
    node = bm.create_node(driver="fake-hardware", driver_info={"fake_fail": "deploy"})
    bm.set_node_provision_state(node, "manage", wait=True, timeout=60)
    bm.set_node_provision_state(node, "provide", wait=True, timeout=60)
    with pytest.raises(exceptions.ResourceFailure):
        bm.set_node_provision_state(node, "active", wait=True, timeout=60)
    node = bm.get_node(node.id)
    assert node.provision_state == "deploy failed"
    assert "failed as requested" in node.last_error


def test_allocations(conn: Connection) -> None:
    bm = conn.baremetal
    plain = [bm.create_node(driver="fake-hardware", resource_class="gold") for _ in range(2)]
    fast = bm.create_node(driver="fake-hardware", resource_class="gold")
    bm.add_node_trait(fast, "CUSTOM_FAST")
    other = bm.create_node(driver="fake-hardware", resource_class="silver")
    nodes: list[Any] = [*plain, fast, other]
    for verb, state in (("manage", "manageable"), ("provide", "available")):
        for n in nodes:
            bm.set_node_provision_state(n, verb)
        bm.wait_for_nodes_provision_state(nodes, state, timeout=60)

    alloc = bm.create_allocation(resource_class="gold", traits=["CUSTOM_FAST"], name="want-fast")
    alloc = bm.wait_for_allocation(alloc, timeout=30)
    assert alloc.state == "active" and alloc.node_id == fast.id
    got = bm.get_node(fast.id)
    assert got.allocation_id == alloc.id and got.instance_id == alloc.id
    by_name = bm.get_allocation("want-fast")
    assert by_name.node_id == fast.id
    assert by_name.microversion == "1.60"  # the sdk's own maximum for allocations

    # Nothing left with the trait: the allocation fails, and says why.
    none_left = bm.create_allocation(resource_class="gold", traits=["CUSTOM_FAST"])
    with pytest.raises(exceptions.SDKException, match="failed"):
        bm.wait_for_allocation(none_left, timeout=30)
    none_left = bm.wait_for_allocation(none_left, timeout=30, ignore_error=True)
    assert none_left.state == "error"
    assert "no suitable nodes have the requested traits CUSTOM_FAST" in none_left.last_error

    # Without traits, any free gold node: never the one already taken, never silver.
    second = bm.wait_for_allocation(bm.create_allocation(resource_class="gold"), timeout=30)
    assert second.node_id in {n.id for n in plain}
    assert {a.id for a in bm.allocations()} == {alloc.id, none_left.id, second.id}
    assert [a.id for a in bm.allocations(node=fast.id)] == [alloc.id]

    bm.delete_allocation(alloc)
    got = bm.get_node(fast.id)
    assert got.allocation_id is None and got.instance_id is None
    with pytest.raises(exceptions.NotFoundException):
        bm.get_allocation(alloc.id)


def test_validate_sees_the_ports_of_an_ipxe_node(conn: Connection) -> None:
    """The sdk's validate_node (what deploy tools call first) passes the ipxe boot
    interface once the node has a port, and says why before."""
    bm = conn.baremetal
    node = bm.create_node(driver="fake-hardware", boot_interface="ipxe")
    before = bm.validate_node(node, required=None)
    assert before["boot"].result is False and "has no ports" in before["boot"].reason
    bm.create_port(node_id=node.id, address="52:54:00:12:34:99")
    after = bm.validate_node(node)  # raises unless boot, deploy and power pass
    assert after["boot"].result is True and after["boot"].reason is None


def test_undeploy_lets_go_of_instance_and_allocation(conn: Connection) -> None:
    """Ironic's tear-down: instance_info and instance_uuid cleared, the allocation
    deleted, so the node can be allocated again once it is available."""
    bm = conn.baremetal
    node = bm.create_node(driver="fake-hardware", resource_class="again")
    for verb in ("manage", "provide"):
        bm.set_node_provision_state(node, verb, wait=True, timeout=60)
    alloc = bm.wait_for_allocation(bm.create_allocation(resource_class="again"), timeout=30)
    assert alloc.node_id == node.id
    bm.update_node(node, instance_info={"image_source": "http://example.org/i.qcow2"})
    bm.set_node_provision_state(node, "active", wait=True, timeout=60)
    deployed = bm.get_node(node.id)
    assert deployed.instance_id == alloc.id and deployed.allocation_id == alloc.id
    bm.set_node_provision_state(node, "deleted", wait=True, timeout=60)
    torn = bm.get_node(node.id)
    assert torn.provision_state == "available"
    assert torn.instance_id is None and torn.allocation_id is None
    assert torn.instance_info == {}
    with pytest.raises(exceptions.NotFoundException):
        bm.get_allocation(alloc.id)
    again = bm.wait_for_allocation(bm.create_allocation(resource_class="again"), timeout=30)
    assert again.state == "active" and again.node_id == node.id


def test_drivers(conn: Connection) -> None:
    bm = conn.baremetal
    drivers = list(bm.drivers())
    assert [d.name for d in drivers] == ["fake-hardware", "ipmi", "redfish"]
    assert drivers[0].hosts and drivers[0].hosts[0].startswith("test-conductor-")
    detailed = next(d for d in bm.drivers(details=True) if d.name == "fake-hardware")
    assert detailed.default_power_interface == "fake"
    assert detailed.enabled_network_interfaces == ["flat", "noop", "fake", "neutron"]
    driver = bm.get_driver("fake-hardware")
    assert driver.default_network_interface == "flat"
    assert "fake" in driver.enabled_console_interfaces
    with pytest.raises(exceptions.NotFoundException):
        bm.get_driver("ipmi-nope")


def test_listing_fields_pagination_and_filters(conn: Connection) -> None:
    bm = conn.baremetal
    created = []
    for i in range(25):
        created.append(bm.create_node(
            driver="fake-hardware", name=f"list-{i:02d}",
            resource_class="gold" if i % 5 == 0 else "silver",
            owner="team-odd" if i % 2 else "team-even"))
    ids = [n.id for n in created]

    # Page by 10 by hand: every node exactly once, in creation order.
    seen: list[str] = []
    pages = []
    marker = None
    while True:
        query: dict[str, Any] = {"limit": 10, **({"marker": marker} if marker else {})}
        page = list(bm.nodes(paginated=False, **query))
        pages.append(len(page))
        seen += [n.id for n in page]
        if len(page) < 10:
            break
        marker = page[-1].id
    assert pages == [10, 10, 5]
    assert seen == ids

    # The sdk follows the service's "next" links by itself.
    followed = [n.id for n in bm.nodes(limit=10)]
    assert followed == ids

    # fields: only what was asked for comes back.
    slim = list(bm.nodes(fields=["uuid", "name"], limit=3, paginated=False))
    assert [n.name for n in slim] == ["list-00", "list-01", "list-02"]
    assert all(n.driver is None and n.provision_state is None for n in slim)
    full = bm.get_node("list-00", fields=["uuid", "owner"])
    assert full.owner == "team-even" and full.driver is None

    # Filters.
    bm.set_node_maintenance(created[3], reason="x")
    bm.set_node_provision_state(created[4], "manage", wait=True, timeout=60)
    gold = {n.id for n in bm.nodes(resource_class="gold")}
    assert gold == {ids[i] for i in range(0, 25, 5)}
    assert [n.id for n in bm.nodes(is_maintenance=True)] == [ids[3]]
    assert len(list(bm.nodes(is_maintenance=False))) == 24
    assert [n.id for n in bm.nodes(provision_state="manageable")] == [ids[4]]
    assert len(list(bm.nodes(provision_state="enroll"))) == 24
    assert len(list(bm.nodes(driver="fake-hardware"))) == 25
    assert list(bm.nodes(driver="ipmi")) == []
    # The sdk has no server-side owner filter; it filters the detailed list itself.
    odd = {n.id for n in bm.nodes(details=True, owner="team-odd")}
    assert odd == {ids[i] for i in range(1, 25, 2)}
    # ...which the service also does, when asked directly.
    r = bm.get("/nodes?owner=team-odd&fields=uuid", microversion="1.78")
    assert {n["uuid"] for n in r.json()["nodes"]} == odd


def test_microversion_negotiation(conn: Connection, service: support.Service) -> None:
    bm = conn.baremetal
    endpoint = bm.get_endpoint_data()
    assert endpoint is not None
    assert endpoint.min_microversion == (1, 1)
    assert endpoint.max_microversion == (1, 92)
    # The sdk's nodes speak up to 1.109; it settles for the service's 1.92.
    assert utils.maximum_supported_microversion(bm, "1.109") == "1.92"
    node = bm.create_node(driver="fake-hardware", name="mv", owner="p1")
    fetched = bm.get_node(node.id)
    assert fetched.microversion == "1.92"
    assert fetched.owner == "p1" and fetched.traits == []  # 1.50 and 1.37 fields
    r = bm.get(f"/nodes/{node.id}", microversion=fetched.microversion)
    assert r.headers["X-OpenStack-Ironic-API-Version"] == "1.92"
    assert r.headers["OpenStack-API-Version"] == "baremetal 1.92"
    r = bm.get(f"/nodes/{node.id}", microversion="1.1")
    assert r.headers["X-OpenStack-Ironic-API-Version"] == "1.1" and "name" not in r.json()

    # Above the maximum: 406, with the range in the headers and the message.
    for header in ({"X-OpenStack-Ironic-API-Version": "1.93"},
                   {"OpenStack-API-Version": "baremetal 1.109"}):
        raw = httpx.get(f"{service.baremetal}/v1/nodes",
                        headers={**header, "X-Auth-Token": service.token()})
        assert raw.status_code == 406
        assert raw.headers["X-OpenStack-Ironic-API-Minimum-Version"] == "1.1"
        assert raw.headers["X-OpenStack-Ironic-API-Maximum-Version"] == "1.92"
        assert "[1.1, 1.92]" in raw.json()["error_message"]
    # The sdk's own session gets the same answer and turns it into its exception.
    response = bm.get(f"/nodes/{node.id}", microversion="1.93")
    with pytest.raises(exceptions.HttpException) as info:
        exceptions.raise_from_response(response)
    assert info.value.status_code == 406
