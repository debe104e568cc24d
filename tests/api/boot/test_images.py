"""/boot/images/<id>: a private image's bytes go only to a URL signed for the
node deploying it, before it expires (Swift temporary URLs' model).

The test plays an outsider who knows the image id and a node's UUID, and
the machine whose write_image carries the signed URL.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from barecloud.conductor import image_urls
from tests import support
from tests.api.baremetal.ironic import Ironic
from tests.api.boot import machine
from tests.api.image.glance import Glance
from tests.conftest import service_on

DATA = os.urandom(3 << 20) + b"tail"


@dataclass
class World:
    svc: support.Service
    ironic: Ironic
    image: str  # private, being deployed on ``node``
    other: str  # another private image, deployed nowhere
    node: str  # in wait call-back for ``image``
    idle: str  # an available node


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for svc in service_on(tmp_path_factory.mktemp("boot-images"), request.param):
        glance, ironic = Glance(svc), Ironic(svc)
        try:
            image = glance.active("private", DATA, visibility="private")["id"]
            other = glance.active("other", b"other bytes", visibility="private")["id"]
            node = machine.deploying(ironic, image, "52:54:00:b0:07:01")
            idle = ironic.create_node(deploy_interface="agent", automated_clean=False)["uuid"]
            ironic.to_state(idle, "available")
            yield World(svc, ironic, image, other, node, idle)
        finally:
            glance.close()
            ironic.close()


def signed(world: World, image: str, node: str, expires_in: float = 600) -> str:
    return machine.signed(world.svc, image, node, expires_in)


def with_query(url: str, **changes: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


def refused(r: httpx.Response) -> str:
    """A 401 in the route's plain form that says nothing of the image."""
    assert r.status_code == 401, (r.status_code, r.headers)
    assert not any(h.startswith("x-image") for h in r.headers), r.headers
    assert "content-range" not in r.headers
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"}
    assert str(len(DATA)) not in body["error"]
    return str(body["error"])


def test_an_outsider_gets_no_bytes_without_a_signed_url(world: World) -> None:
    base = f"{world.svc.url}/boot/images/{world.image}"
    for method in ("GET", "HEAD"):
        r = httpx.request(method, base)
        assert r.status_code == 401 and DATA[:64] not in r.content
        assert "x-image-sha512" not in r.headers
    refused(httpx.get(base))
    refused(httpx.get(base, headers={"Range": "bytes=0-"}))
    # An image that does not exist answers the same: the id is not confirmed.
    refused(httpx.get(f"{world.svc.url}/boot/images/0d9f8a52-5a0e-4c53-8f5e-1f7a9b3c2d10"))
    refused(httpx.get(base, params={"node": world.node}))


def test_a_signed_url_is_bound_to_its_image_node_and_time(world: World) -> None:
    good = signed(world, world.image, world.node)
    # The signature of one image's URL does not open another image.
    refused(httpx.get(good.replace(world.image, world.other)))
    # Nor does it open the image for another node (the node is in what is signed).
    refused(httpx.get(with_query(good, node=world.idle)))
    # A later expiry written in is not signed; an expired URL is refused.
    later = str(int(time.time()) + 10**6)
    refused(httpx.get(with_query(good, expires=later)))
    assert "expired" in refused(httpx.get(signed(world, world.image, world.node, -1)))
    # A tampered or malformed signature, a malformed expiry.
    sig = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(good).query))["signature"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    refused(httpx.get(with_query(good, signature=flipped)))
    refused(httpx.get(with_query(good, signature="zz")))
    refused(httpx.get(with_query(good, expires="soon")))
    # A URL signed with another key (another cloud's) is refused.
    forged = image_urls.signed_url(b"k" * 32, world.svc.url, world.image, world.node,
                                   int(time.time() + 600))
    refused(httpx.get(forged))


def test_a_valid_signature_for_a_node_not_deploying_the_image_is_refused(
        world: World) -> None:
    # Signed correctly, but the idle node deploys nothing, and the deploying node
    # deploys another image: the URL outlives no run.
    for url in (signed(world, world.image, world.idle),
                signed(world, world.other, world.node)):
        assert "no longer valid" in refused(httpx.get(url))


def test_the_machine_s_url_serves_bytes_ranges_and_head(world: World) -> None:
    url = signed(world, world.image, world.node)
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == DATA
    assert r.headers["x-image-sha512"] == hashlib.sha512(DATA).hexdigest()
    r = httpx.get(url, headers={"Range": "bytes=1048576-"})
    assert r.status_code == 206 and r.content == DATA[1 << 20:]
    assert r.headers["content-range"] == f"bytes 1048576-{len(DATA) - 1}/{len(DATA)}"
    r = httpx.head(url)
    assert r.status_code == 200 and r.headers["content-length"] == str(len(DATA))
    assert r.content == b""


def test_the_key_is_the_service_s_alone_and_the_api_never_shows_a_signature(
        world: World) -> None:
    path = image_urls.key_path(world.svc.data_dir)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert len(path.read_bytes()) == image_urls.KEY_BYTES
    # The node's write_image carries the signed URL; its API view masks the query.
    shown = world.ironic.node(world.node)["driver_internal_info"]["agent_command"]
    assert shown["name"] == "write_image"
    assert shown["params"]["url"] == (f"{world.svc.url}/boot/images/{world.image}?******")
    assert world.ironic.node(world.node)["instance_info"]["image_url"] == "******"
