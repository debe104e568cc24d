"""Version discovery at /identity, as keystoneauth reads it (no token needed)."""

from __future__ import annotations

import httpx
from keystoneauth1 import discover, session

from tests.support import Service


def test_root_lists_v3_with_300(identity_service: Service) -> None:
    rsp = httpx.get(f"{identity_service.url}/identity")
    assert rsp.status_code == 300
    (v3,) = rsp.json()["versions"]["values"]
    assert v3["id"] == "v3.14" and v3["status"] == "stable"
    assert v3["links"] == [{"rel": "self", "href": f"{identity_service.url}/identity/v3/"}]
    assert v3["media-types"] == [{"base": "application/json",
                                  "type": "application/vnd.openstack.identity-v3+json"}]
    assert httpx.get(f"{identity_service.url}/identity/").json() == rsp.json()


def test_v3_document(identity_service: Service) -> None:
    for path in ("/identity/v3", "/identity/v3/"):
        rsp = httpx.get(f"{identity_service.url}{path}")
        assert rsp.status_code == 200
        assert rsp.json()["version"]["id"] == "v3.14"
        assert rsp.json()["version"]["links"][0]["href"] == \
            f"{identity_service.url}/identity/v3/"


def test_keystoneauth_discovers_v3(identity_service: Service) -> None:
    sess = session.Session()
    found = discover.Discover(sess, f"{identity_service.url}/identity")
    assert found.url_for((3, 0)) == f"{identity_service.url}/identity/v3/"
    data = discover.get_version_data(sess, f"{identity_service.url}/identity/v3")
    assert [d["id"] for d in data] == ["v3.14"]


def test_unknown_identity_paths_are_keystone_404(identity_service: Service) -> None:
    rsp = httpx.get(f"{identity_service.url}/identity/v3/trusts",
                    headers={"X-Auth-Token": identity_service.token()})
    assert rsp.status_code == 404
    assert rsp.json()["error"]["code"] == 404
