"""Quota sets, limits, and quotas enforced at create with Nova's 403 messages.

Every request here is the noauth admin of NOAUTH_PROJECT, so the tests of
this module share one project's usage: each reads what is used first and
sets limits relative to it, and puts the defaults back at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from barecloud.services.context import NOAUTH_PROJECT
from tests.api.compute.nova import Nova, fault

P = NOAUTH_PROJECT
NOW = {"cores", "instances", "key_pairs", "metadata_items", "ram", "server_groups",
       "server_group_members"}


@pytest.fixture
def project(nova: Nova) -> Iterator[str]:
    yield P
    nova.request("DELETE", f"/os-quota-sets/{P}")


def _used(nova: Nova) -> dict[str, Any]:
    absolute: dict[str, Any] = nova.ok("GET", "/limits")["limits"]["absolute"]
    return absolute


def test_quota_sets(nova: Nova, project: str) -> None:
    shown = nova.ok("GET", f"/os-quota-sets/{project}")["quota_set"]
    assert set(shown) == NOW | {"id"} and shown["id"] == project
    assert (shown["instances"], shown["cores"], shown["ram"]) == (10, 20, 51200)
    old = nova.ok("GET", f"/os-quota-sets/{project}", version="2.35")["quota_set"]
    assert {"floating_ips", "security_groups", "injected_files"} <= set(old)
    mid = nova.ok("GET", f"/os-quota-sets/{project}", version="2.56")["quota_set"]
    assert "injected_files" in mid and "floating_ips" not in mid
    defaults = nova.ok("GET", f"/os-quota-sets/{project}/defaults")["quota_set"]
    assert defaults["instances"] == 10 and defaults["id"] == project
    updated = nova.ok("PUT", f"/os-quota-sets/{project}", json={"quota_set": {
        "instances": 7, "cores": "30", "force": True}})["quota_set"]
    assert "id" not in updated and (updated["instances"], updated["cores"]) == (7, 30)
    assert nova.ok("GET", f"/os-quota-sets/{project}")["quota_set"]["instances"] == 7
    for body, words in [
        ({"quota_set": {"instances": -2}}, "must be -1 or greater"),
        ({"quota_set": {"instances": "many"}}, "is not of type"),
        ({"quota_set": {"colour": 1}}, "('colour' was unexpected)"),
        ({"quota_set": {"injected_files": 1}}, "('injected_files' was unexpected)"),
        ({"quota_set": {"instances": 1, "force": "perhaps"}}, "is not one of"),
        ({"quota": {}}, "'quota_set' is a required property"),
    ]:
        assert words in fault(nova.request("PUT", f"/os-quota-sets/{project}", json=body),
                              400), body
    assert nova.ok("GET", f"/os-quota-sets/{project}")["quota_set"]["instances"] == 7
    detail = nova.ok("GET", f"/os-quota-sets/{project}/detail")["quota_set"]
    assert detail["instances"]["limit"] == 7 and "in_use" in detail["instances"]
    assert nova.request("DELETE", f"/os-quota-sets/{project}").status_code == 202
    assert nova.ok("GET", f"/os-quota-sets/{project}")["quota_set"]["instances"] == 10


def test_limits(nova: Nova) -> None:
    absolute = _used(nova)
    assert {"maxTotalInstances", "maxTotalCores", "maxTotalRAMSize", "totalInstancesUsed",
            "totalCoresUsed", "totalRAMUsed", "maxServerMeta", "maxTotalKeypairs"} <= \
        set(absolute)
    assert "maxPersonality" not in absolute and "maxSecurityGroups" not in absolute
    old = nova.ok("GET", "/limits", version="2.1")["limits"]["absolute"]
    assert {"maxPersonality", "maxSecurityGroups", "maxImageMeta"} <= set(old)


def test_instance_quota_enforced(nova: Nova, rc: str, project: str) -> None:
    image, flavor = nova.image(), nova.flavor(rc)  # no node: servers end in ERROR, and count
    used = _used(nova)["totalInstancesUsed"]
    limit = used + 2
    nova.ok("PUT", f"/os-quota-sets/{project}", json={"quota_set": {"instances": limit,
                                                                    "cores": -1, "ram": -1}})
    first = [nova.create(f"q{i}", image, flavor)["server"]["id"] for i in range(2)]
    assert _used(nova)["totalInstancesUsed"] == limit
    r = nova.request("POST", "/servers", json={"server": {
        "name": "one-too-many", "imageRef": image, "flavorRef": flavor, "networks": "none"}})
    assert fault(r, 403) == (f"Quota exceeded for instances: Requested 1, but already used "
                             f"{limit} of {limit} instances")
    r = nova.request("POST", "/servers", json={"server": {
        "name": "range", "imageRef": image, "flavorRef": flavor, "networks": "none",
        "min_count": 2, "max_count": 3}})
    assert fault(r, 403) == (f"Quota exceeded for instances: Requested 2-3, but already "
                             f"used {limit} of {limit} instances")
    assert _used(nova)["totalInstancesUsed"] == limit  # nothing was created
    # With room for one, min 1 / max 3 creates one (as Nova's).
    nova.request("DELETE", f"/servers/{first[0]}")
    nova.wait_gone(first[0])
    rid = nova.ok("POST", "/servers", 202, json={"server": {
        "name": "some", "imageRef": image, "flavorRef": flavor, "networks": "none",
        "min_count": 1, "max_count": 3, "return_reservation_id": True}})["reservation_id"]
    made = nova.ok("GET", "/servers", params={"reservation_id": rid})["servers"]
    assert [s["name"] for s in made] == ["some"]  # one made: no index suffix, as Nova
    assert _used(nova)["totalInstancesUsed"] == limit


def test_cores_and_metadata_quotas(nova: Nova, rc: str, project: str) -> None:
    image = nova.image()
    f = nova.ok("POST", "/flavors", json={"flavor": {
        "name": f"two-{rc}", "ram": 512, "vcpus": 2, "disk": 0}})["flavor"]["id"]
    cores = _used(nova)["totalCoresUsed"]
    nova.ok("PUT", f"/os-quota-sets/{project}", json={"quota_set": {
        "instances": -1, "cores": cores + 1, "metadata_items": 1}})
    r = nova.request("POST", "/servers", json={"server": {
        "name": "big", "imageRef": image, "flavorRef": f, "networks": "none"}})
    assert fault(r, 403) == (f"Quota exceeded for cores: Requested 2, but already used "
                             f"{cores} of {cores + 1} cores")
    r = nova.request("POST", "/servers", json={"server": {
        "name": "chatty", "imageRef": image, "flavorRef": f, "networks": "none",
        "metadata": {"a": "1", "b": "2"}}})
    assert fault(r, 403) == "Maximum number of metadata items exceeds 1"
    assert _used(nova)["totalCoresUsed"] == cores


def test_keypair_quota(nova: Nova, project: str) -> None:
    have = len(nova.ok("GET", "/os-keypairs")["keypairs"])
    nova.ok("PUT", f"/os-quota-sets/{project}", json={"quota_set": {"key_pairs": have}})
    r = nova.request("POST", "/os-keypairs", version="2.10",
                     json={"keypair": {"name": f"one-more-{have}"}})
    assert fault(r, 403) == "Quota exceeded, too many key pairs."
    assert len(nova.ok("GET", "/os-keypairs")["keypairs"]) == have
