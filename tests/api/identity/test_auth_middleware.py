"""Tokens in front of every API: 401s in each service's own format, public paths,
expiry (a service whose tokens live two seconds)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests import support
from tests.conftest import service_on

LIFETIME = 2


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    yield from service_on(tmp_path_factory.mktemp("expiry"), "sqlite", auth="keystone",
                          extra_env={"BARECLOUD_TOKEN_EXPIRATION": str(LIFETIME)})


def challenge(svc: support.Service, rsp: httpx.Response) -> None:
    assert rsp.status_code == 401, rsp.text
    assert rsp.headers["WWW-Authenticate"] == f'Keystone uri="{svc.url}/identity"'
    assert rsp.headers["x-openstack-request-id"].startswith("req-")


@pytest.mark.parametrize("token", [None, "", "garbage", "gAAAAABnotafernettoken"])
def test_every_service_answers_401_in_its_format(short_lived: support.Service,
                                                 token: str | None) -> None:
    headers = {} if token is None else {"X-Auth-Token": token}
    url = short_lived.url
    rsp = httpx.get(f"{url}/baremetal/v1/nodes", headers=headers)
    challenge(short_lived, rsp)
    assert "requires authentication" in rsp.json()["error_message"]
    rsp = httpx.get(f"{url}/image/v2/images", headers=headers)
    challenge(short_lived, rsp)
    assert rsp.json()["code"] == "401 Unauthorized"
    rsp = httpx.get(f"{url}/identity/v3/projects", headers=headers)
    challenge(short_lived, rsp)
    assert rsp.json()["error"] == {"code": 401, "title": "Unauthorized", "message":
                                   "The request you have made requires authentication."}
    rsp = httpx.get(f"{url}/compute/v2.1/servers", headers=headers)
    challenge(short_lived, rsp)
    assert rsp.json() == {"unauthorized": {
        "code": 401, "message": "The request you have made requires authentication."}}
    rsp = httpx.get(f"{url}/identity/v3/auth/tokens",
                    headers={**headers, "X-Subject-Token": "x"})
    challenge(short_lived, rsp)


def test_public_paths_need_no_token(short_lived: support.Service) -> None:
    url = short_lived.url
    for path in ("/", "/identity", "/identity/v3", "/baremetal", "/baremetal/v1",
                 "/image", "/image/versions", "/boot/boot.ipxe"):
        rsp = httpx.get(f"{url}{path}")
        assert rsp.status_code in (200, 300), (path, rsp.status_code)
    for path in ("/compute", "/compute/v2.1"):
        assert httpx.get(f"{url}{path}").status_code != 401, path
    bm = {"X-OpenStack-Ironic-API-Version": "1.78"}
    node = str(uuid.uuid4())
    # The agent's endpoints: not found (no such node), not unauthenticated.
    assert httpx.get(f"{url}/baremetal/v1/lookup?addresses=52:54:00:00:00:01",
                     headers=bm).status_code == 404
    assert httpx.post(f"{url}/baremetal/v1/heartbeat/{node}", json={},
                      headers=bm).status_code == 404
    assert httpx.get(f"{url}/baremetal/v1/agent/{node}/command",
                     headers=bm).status_code == 404
    assert httpx.post(f"{url}/identity/v3/auth/tokens", json={}).status_code == 400


def test_tokens_expire(short_lived: support.Service) -> None:
    token = short_lived.token()
    nodes = f"{short_lived.baremetal}/v1/nodes"
    assert httpx.get(nodes, headers={"X-Auth-Token": token}).status_code == 200
    validate = httpx.get(f"{short_lived.identity}/auth/tokens",
                         headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert validate.status_code == 200
    time.sleep(LIFETIME + 0.5)
    challenge(short_lived, httpx.get(nodes, headers={"X-Auth-Token": token}))
    fresh = short_lived.token()
    gone = httpx.get(f"{short_lived.identity}/auth/tokens",
                     headers={"X-Auth-Token": fresh, "X-Subject-Token": token})
    assert gone.status_code == 404
    # Rescoping does not extend a token's life.
    rsp = httpx.post(f"{short_lived.identity}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token}}}})
    assert rsp.status_code == 401
