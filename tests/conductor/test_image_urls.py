"""Signed image URLs: which write_image URLs the conductor signs, and the check."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from barecloud import states
from barecloud.conductor import image_urls
from barecloud.config import Settings
from barecloud.db.models import Node
from barecloud.drivers.base import AgentCommand
from barecloud.errors import NotFound
from barecloud.services.baremetal import node_states
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images
from tests.conductor.helpers import load, make_available, wait_state

IMAGE = "5b0c1e4e-7f3a-4c2b-9d1e-2a3b4c5d6e7f"
NODE = "0d1e2f3a-0000-4000-8000-000000000001"


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, port=6385, deploy_callback_timeout=100,
                    image_url_margin=50)


def write(url: str) -> AgentCommand:
    return AgentCommand("write_image", {"url": url, "os_hash_value": "ab"})


def test_the_glance_image_of_the_deploy_is_signed_for_its_node(tmp_path: Path) -> None:
    s = settings(tmp_path)
    url = f"{s.base_url}/boot/images/{IMAGE}"
    before = int(time.time())
    command = image_urls.sign_command(s, NODE, {"image_source": IMAGE}, write(url))
    signed = urllib.parse.urlsplit(command.params["url"])
    query = dict(urllib.parse.parse_qsl(signed.query))
    assert command.params["os_hash_value"] == "ab"
    assert f"{s.base_url}{signed.path}" == url and query["node"] == NODE
    assert before + 150 <= int(query["expires"]) <= int(time.time()) + 150
    grant = image_urls.check(image_urls.load_key(tmp_path), IMAGE, query["node"],
                             query["expires"], query["signature"])
    assert grant == image_urls.Grant(IMAGE, NODE, int(query["expires"]))
    # Signing the signed command again renews it (the batch's own member passes twice).
    again = image_urls.sign_command(s, NODE, {"image_source": IMAGE}, command)
    assert again.params["url"].count("?") == 1


@pytest.mark.parametrize("info, url", [
    # An external image: its owner's URL, untouched.
    ({"image_source": "http://example.com/disk.raw"}, "http://example.com/disk.raw"),
    # A /boot/images URL the user wrote in (image_url, or as an http image_source)
    # for an image the deploy did not resolve: signing it would open any image.
    ({"image_source": "http://127.0.0.1:6385/boot/images/" + IMAGE},
     "http://127.0.0.1:6385/boot/images/" + IMAGE),
    ({"image_source": "other-image"}, "http://127.0.0.1:6385/boot/images/" + IMAGE),
    # Another host's /boot/images.
    ({"image_source": IMAGE}, "http://10.0.0.9:6385/boot/images/" + IMAGE),
])
def test_other_urls_are_not_signed(tmp_path: Path, info: dict[str, str], url: str) -> None:
    command = write(url)
    assert image_urls.sign_command(settings(tmp_path), NODE, info, command) == command
    assert not image_urls.key_path(tmp_path).exists()
    other = AgentCommand("erase", {"mode": "quick"})
    assert image_urls.sign_command(settings(tmp_path), NODE, info, other) == other


def test_check_refuses_what_was_not_signed_or_has_expired(tmp_path: Path) -> None:
    key = image_urls.load_key(tmp_path)
    expires = int(time.time()) + 60
    sig = image_urls.signature(key, IMAGE, NODE, expires)
    cases = [
        (IMAGE, None, str(expires), sig), (IMAGE, NODE, None, sig),
        (IMAGE, NODE, str(expires), None), (IMAGE, NODE, str(expires), sig.upper()),
        (IMAGE, NODE, "²", sig), (IMAGE, NODE, "-1", sig), (IMAGE, NODE, "1" * 40, sig),
        (IMAGE, NODE, str(expires + 1), sig), ("other", NODE, str(expires), sig),
        (IMAGE, "other", str(expires), sig),
    ]
    for image, node, exp, signature in cases:
        with pytest.raises(image_urls.Refused):
            image_urls.check(key, image, node, exp, signature)
    image_urls.check(key, IMAGE, NODE, str(expires), sig)
    with pytest.raises(image_urls.Refused, match="expired"):
        image_urls.check(key, IMAGE, NODE, str(expires), sig, now=expires + 1)


async def test_a_node_owner_cannot_deploy_another_project_s_private_image(
        rt: Runtime) -> None:
    """Its machine would get a URL signed for that image: the deploy is refused first,
    as if the image did not exist, and the node does not move."""
    owner_a = RequestContext(request_id="req-a", user="ua", project="project-a",
                             roles=("reader", "member"))
    owner_b = RequestContext(request_id="req-b", user="ub", project="project-b",
                             roles=("reader", "member"))

    async def image(ctx: RequestContext, visibility: str) -> str:
        created = await images.create(rt, ctx, {"name": "img", "disk_format": "raw",
                                                "container_format": "bare",
                                                "visibility": visibility})

        async def chunks() -> AsyncIterator[bytes]:
            yield b"x" * 4096

        await images.upload(rt, ctx, created.uuid, chunks())
        return created.uuid

    private_a = await image(owner_a, "private")
    node = await make_available(rt)
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == node).values(
            owner="project-b", instance_info={"image_source": private_a}))
    with pytest.raises(NotFound, match="No image found"):
        await node_states.set_provision_state(rt, owner_b, node, "active", {})
    assert (await load(rt.db, node)).provision_state == states.AVAILABLE
    # Its own image (named in capitals: ids are case-blind) deploys, signed for the node.
    private_b = await image(owner_b, "private")
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == node).values(
            instance_info={"image_source": private_b.upper()}))
    await node_states.set_provision_state(rt, owner_b, node, "active", {})
    await wait_state(rt, node, states.ACTIVE)
    info = (await load(rt.db, node)).instance_info
    assert info["image_url"].endswith(f"/boot/images/{private_b}")
    command = image_urls.sign_command(rt.settings, node, info, write(info["image_url"]))
    assert "signature=" in command.params["url"]
