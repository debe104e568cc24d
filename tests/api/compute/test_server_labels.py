"""A server's metadata, tags (2.26) and addresses as their own resources, as Nova's."""

from __future__ import annotations

import hashlib

from tests.api.compute.nova import Nova, fault


def _mac(seed: str) -> str:
    h = hashlib.sha1(seed.encode()).digest()
    return f"52:54:{h[0]:02x}:{h[1]:02x}:{h[2]:02x}:09"


def _server(nova: Nova, rc: str, **extra: object) -> str:
    node = nova.node(rc)
    r = nova.bm.post("/ports", json={"address": _mac(rc), "node_uuid": node["uuid"],
                                     "extra": {"ip_address": "198.51.100.20"}})
    assert r.status_code == 201, r.text
    sid: str = nova.create("labelled", nova.image(), nova.flavor(rc), **extra)["server"]["id"]
    nova.wait_status(sid, "ACTIVE")
    return sid


def test_metadata(nova: Nova, rc: str) -> None:
    sid = _server(nova, rc, metadata={"a": "1"})
    base = f"/servers/{sid}/metadata"
    assert nova.ok("GET", base) == {"metadata": {"a": "1"}}
    assert nova.ok("POST", base, json={"metadata": {"b": "2"}}) == \
        {"metadata": {"a": "1", "b": "2"}}
    assert nova.ok("PUT", f"{base}/c", json={"meta": {"c": "3"}}) == {"meta": {"c": "3"}}
    assert nova.ok("GET", f"{base}/c") == {"meta": {"c": "3"}}
    assert nova.server(sid)["metadata"] == {"a": "1", "b": "2", "c": "3"}
    assert nova.ok("PUT", base, json={"metadata": {"z": "26"}}) == {"metadata": {"z": "26"}}
    assert nova.request("DELETE", f"{base}/z").status_code == 204
    assert nova.ok("GET", base) == {"metadata": {}}

    assert fault(nova.request("GET", f"{base}/z"), 404) == "Metadata item was not found"
    assert fault(nova.request("DELETE", f"{base}/z"), 404) == "Metadata item was not found"
    assert fault(nova.request("PUT", f"{base}/x", json={"meta": {"y": "1"}}), 400) == \
        "Request body and URI mismatch"
    assert "too many properties" in fault(nova.request(
        "PUT", f"{base}/x", json={"meta": {"x": "1", "y": "2"}}), 400)
    assert "does not match any of the regexes" in fault(nova.request(
        "POST", base, json={"metadata": {"a/b": "1"}}), 400)
    assert "is too long" in fault(nova.request(
        "POST", base, json={"metadata": {"k": "v" * 256}}), 400)
    assert "is not of type 'object'" in fault(nova.request(
        "POST", base, json={"metadata": []}), 400)

    # The project's metadata_items quota: 403, and nothing written.
    project = nova.server(sid)["tenant_id"]
    nova.ok("PUT", f"/os-quota-sets/{project}", json={"quota_set": {"metadata_items": 2}})
    try:
        assert fault(nova.request("POST", base, json={"metadata": {
            "p": "1", "q": "2", "r": "3"}}), 403) == \
            "Maximum number of metadata items exceeds 2"
        assert nova.ok("GET", base) == {"metadata": {}}
    finally:
        nova.ok("DELETE", f"/os-quota-sets/{project}", 202)

    # Not while the server is busy, in Nova's words.
    assert nova.action(sid, {"os-stop": None}).status_code == 202
    r = nova.request("POST", base, json={"metadata": {"s": "1"}})
    if r.status_code == 409:  # still powering off
        assert fault(r, 409).startswith(f"Cannot 'update metadata' instance {sid}")
    nova.wait_status(sid, "SHUTOFF")
    assert nova.ok("POST", base, json={"metadata": {"s": "2"}})["metadata"]["s"] == "2"
    assert fault(nova.request("GET", "/servers/00000000-0000-0000-0000-000000000000"
                                     "/metadata"), 404)
    nova.request("DELETE", f"/servers/{sid}")


def test_tags(nova: Nova, rc: str) -> None:
    sid = _server(nova, rc, tags=["red", "red", "blue"])
    base = f"/servers/{sid}/tags"
    assert nova.ok("GET", base) == {"tags": ["red", "blue"]}
    assert nova.server(sid)["tags"] == ["red", "blue"]
    assert fault(nova.request("GET", base, version="2.25"), 404)
    assert "tags" not in nova.server(sid, headers={"OpenStack-API-Version": "compute 2.25"})

    r = nova.request("PUT", f"{base}/green")
    assert r.status_code == 201 and r.headers["location"].endswith(f"{base}/green")
    assert nova.request("PUT", f"{base}/green").status_code == 204  # already there
    assert nova.request("GET", f"{base}/green").status_code == 204
    assert fault(nova.request("GET", f"{base}/pink"), 404) == \
        f"Server {sid} has no tag 'pink'"
    assert nova.request("DELETE", f"{base}/red").status_code == 204
    assert fault(nova.request("DELETE", f"{base}/red"), 404)
    assert nova.ok("GET", base) == {"tags": ["blue", "green"]}
    assert "is invalid" in fault(nova.request("PUT", f"{base}/a,b"), 400)

    assert nova.ok("PUT", base, json={"tags": ["x", "y"]}) == {"tags": ["x", "y"]}
    assert "is too long" in fault(nova.request("PUT", base, json={"tags": ["t" * 61]}), 400)
    many = [f"t{i}" for i in range(51)]
    assert "is too long" in fault(nova.request("PUT", base, json={"tags": many}), 400)
    nova.ok("PUT", base, json={"tags": many[:50]})
    assert fault(nova.request("PUT", f"{base}/one-more"), 400) == \
        "The number of tags exceeded the per-server limit 50"
    assert nova.request("DELETE", base).status_code == 204
    assert nova.ok("GET", base) == {"tags": []}
    nova.request("DELETE", f"/servers/{sid}")


def test_ips(nova: Nova, rc: str) -> None:
    sid = _server(nova, rc)
    assert nova.ok("GET", f"/servers/{sid}/ips") == {
        "addresses": {"provisioning": [{"version": 4, "addr": "198.51.100.20"}]}}
    assert nova.ok("GET", f"/servers/{sid}/ips/provisioning") == {
        "provisioning": [{"version": 4, "addr": "198.51.100.20"}]}
    assert fault(nova.request("GET", f"/servers/{sid}/ips/elsewhere"), 404) == \
        "Instance is not a member of specified network"
    shown = nova.server(sid)["addresses"]["provisioning"][0]
    assert shown["OS-EXT-IPS-MAC:mac_addr"] == _mac(rc)
    nova.request("DELETE", f"/servers/{sid}")


def test_password(nova: Nova, rc: str) -> None:
    """No password was posted (diagnostics: test_server_diagnostics.py)."""
    nova.node(rc)
    sid = nova.create("pw", nova.image(), nova.flavor(rc))["server"]["id"]
    assert nova.ok("GET", f"/servers/{sid}/os-server-password") == {"password": ""}
    assert nova.request("DELETE", f"/servers/{sid}/os-server-password").status_code == 204
    assert fault(nova.request("GET", "/servers/00000000-0000-0000-0000-000000000000"
                                     "/os-server-password"), 404)
    nova.request("DELETE", f"/servers/{sid}")
