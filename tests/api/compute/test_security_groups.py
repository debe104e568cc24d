"""Nova's security-group proxies (/os-security-groups, /os-security-group-rules): Nova's
format over Neutron's groups, Nova's refusals, and 404 from microversion 2.36.  A
server's own groups (/servers/{id}/os-security-groups) are tested with a real port in
tests/acceptance/test_server_security_groups.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests import support
from tests.api.compute.nova import Nova, fault

OLD = "2.35"  # the proxies' last version


@pytest.fixture
def old(compute_service: support.Service) -> Iterator[Nova]:
    """A client at 2.35, the proxies' last version."""
    client = Nova(compute_service, version=OLD)
    try:
        yield client
    finally:
        client.close()


def _group(nova: Nova, name: str) -> dict[str, Any]:
    made: dict[str, Any] = nova.ok("POST", "/os-security-groups", json={
        "security_group": {"name": name, "description": "d"}})["security_group"]
    return made


def test_groups_and_rules_in_novas_format(old: Nova) -> None:
    nova = old
    name = f"web-{uuid.uuid4().hex[:6]}"
    web = _group(nova, name)
    assert set(web) == {"id", "name", "description", "tenant_id", "rules"}
    assert (web["name"], web["description"], web["rules"]) == (name, "d", [])  # egress hidden
    gid = web["id"]

    rule = nova.ok("POST", "/os-security-group-rules", json={
        "security_group_rule": {"parent_group_id": gid, "ip_protocol": "tcp",
                                "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}}
    )["security_group_rule"]
    assert rule == {"id": rule["id"], "parent_group_id": gid, "ip_protocol": "tcp",
                    "from_port": 22, "to_port": 22, "group": {},
                    "ip_range": {"cidr": "10.0.0.0/8"}}
    # A remote group's rule without ports: all of TCP's, and the group named.
    member = nova.ok("POST", "/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": gid, "group_id": gid, "ip_protocol": "tcp"}})["security_group_rule"]
    assert (member["from_port"], member["to_port"], member["ip_range"]) == (1, 65535, {})
    assert member["group"] == {"name": name, "tenant_id": web["tenant_id"]}

    shown = nova.ok("GET", f"/os-security-groups/{gid}")["security_group"]
    assert sorted(r["id"] for r in shown["rules"]) == sorted([rule["id"], member["id"]])
    listed = nova.ok("GET", "/os-security-groups")["security_groups"]
    names = [g["name"] for g in listed]
    assert "default" in names and name in names
    assert [(g["tenant_id"], g["name"]) for g in listed] == sorted(
        (g["tenant_id"], g["name"]) for g in listed)
    assert len(nova.ok("GET", "/os-security-groups?limit=1")["security_groups"]) == 1

    changed = nova.ok("PUT", f"/os-security-groups/{gid}", json={"security_group": {
        "name": f"{name}-2", "description": "e"}})["security_group"]
    assert (changed["name"], changed["description"]) == (f"{name}-2", "e")

    # Nova's refusals.
    dup = {"security_group_rule": {"parent_group_id": gid, "ip_protocol": "tcp",
                                   "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}}
    assert fault(nova.request("POST", "/os-security-group-rules", json=dup), 400) == \
        f"This rule already exists in group {gid}"
    for body, message in (
            ({"cidr": "10.0.0.0/8"}, "Not enough parameters to build a valid rule."),
            ({"ip_protocol": "gre", "from_port": 1, "to_port": 2}, "Invalid IP protocol gre."),
            ({"ip_protocol": "tcp", "from_port": 9, "to_port": 8},
             "Invalid port range 9:8. Former value cannot be greater than the later"),
            ({"ip_protocol": "udp", "from_port": "a", "to_port": 8},
             "Invalid input received: To and From ports must be integers"),
            ({"ip_protocol": "tcp", "from_port": 1, "to_port": 2, "cidr": "nope"},
             "nope is not a valid IP network."),
            ({"ip_protocol": "tcp", "from_port": 1, "to_port": 2, "cidr": "10.0.0.0/0"},
             "Bad prefix for network in cidr 10.0.0.0/0")):
        r = nova.request("POST", "/os-security-group-rules", json={
            "security_group_rule": {"parent_group_id": gid, **body}})
        assert fault(r, 400) == message, body
    assert fault(nova.request("GET", "/os-security-groups/nope"), 400) == \
        "Security group id should be uuid"
    missing = str(uuid.uuid4())
    fault(nova.request("GET", f"/os-security-groups/{missing}"), 404)
    fault(nova.request("POST", "/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": missing, "ip_protocol": "tcp", "from_port": 1, "to_port": 2}}), 404)
    fault(nova.request("POST", "/os-security-groups", json={"security_group": {"name": "x"}}),
          400)  # description is required, as Nova's schema says

    assert nova.request("DELETE", f"/os-security-group-rules/{rule['id']}").status_code == 202
    fault(nova.request("DELETE", f"/os-security-group-rules/{rule['id']}"), 404)
    assert nova.request("DELETE", f"/os-security-groups/{gid}").status_code == 202
    fault(nova.request("GET", f"/os-security-groups/{gid}"), 404)


def test_the_proxies_end_at_2_36(nova: Nova, old: Nova) -> None:
    gid = _group(old, f"old-{uuid.uuid4().hex[:6]}")["id"]
    for method, path, body in (
            ("GET", "/os-security-groups", None),
            ("POST", "/os-security-groups", {"bad": 1}),  # 404 before the body is read
            ("GET", f"/os-security-groups/{gid}", None),
            ("PUT", f"/os-security-groups/{gid}", {"security_group": {}}),
            ("DELETE", f"/os-security-groups/{gid}", None),
            ("POST", "/os-security-group-rules", {}),
            ("DELETE", f"/os-security-group-rules/{uuid.uuid4()}", None)):
        r = nova.request(method, path, version="2.36", json=body)
        assert fault(r, 404) == "The resource could not be found.", (method, path)
    assert old.ok("GET", f"/os-security-groups/{gid}")  # still there


def test_delete_naming_no_group_is_404(old: Nova) -> None:
    for path in ("/os-security-groups", "/os-security-groups/"):  # the latter redirected
        assert fault(old.request("DELETE", path, follow_redirects=True), 404), path
