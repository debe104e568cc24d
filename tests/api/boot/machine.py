"""A machine's view of /boot/images: a node deploying an image, and its signed URL."""

from __future__ import annotations

import secrets
import time

from barecloud.conductor import image_urls
from tests import support
from tests.api.baremetal.ironic import Ironic


def deploying(ironic: Ironic, image: str, mac: str | None = None) -> str:
    """A fake-hardware node whose agent deploy waits in wait call-back for ``image``."""
    mac = mac or "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
    node = ironic.create_node(deploy_interface="agent", automated_clean=False,
                              instance_info={"image_source": image})
    ironic.ok("POST", "/ports", 201, json={"address": mac, "node_uuid": node["uuid"]})
    ironic.to_state(node["uuid"], "available")
    ironic.provision(node["uuid"], "active")
    deadline = time.monotonic() + 30
    while ironic.node(node["uuid"])["provision_state"] != "wait call-back":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return str(node["uuid"])


def signed(svc: support.Service, image: str, node: str, expires_in: float = 600) -> str:
    """The URL the conductor would put in ``node``'s write_image (the service's key)."""
    key = image_urls.load_key(svc.data_dir)
    return image_urls.signed_url(key, svc.url, image, node, int(time.time() + expires_in))


def machine_url(svc: support.Service, image: str) -> str:
    """A signed URL of ``image`` for a new node deploying it."""
    ironic = Ironic(svc)
    try:
        return signed(svc, image, deploying(ironic, image))
    finally:
        ironic.close()
