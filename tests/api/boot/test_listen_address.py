"""provisioning_listen_address: /boot/ and the agent's endpoints on that address only.

The service listens on every address (0.0.0.0); the provisioning network is
127.0.0.2 here.  What a machine calls answers there, and is not found on any
other address; the APIs for people answer everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import support
from tests.api.baremetal.ironic import LATEST, VERSION_HEADER, fault

PROVISIONING = "127.0.0.2"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[support.Service]:
    service = support.start_service(tmp_path / "svc", extra_env={
        "BARECLOUD_HOST": "0.0.0.0", "BARECLOUD_PROVISIONING_LISTEN_ADDRESS": PROVISIONING})
    try:
        yield service
    finally:
        service.stop()


def test_machines_are_answered_on_the_provisioning_address_only(
        svc: support.Service) -> None:
    port = svc.url.rsplit(":", 1)[1]
    other, prov = f"http://127.0.0.1:{port}", f"http://{PROVISIONING}:{port}"
    version = {VERSION_HEADER: LATEST}
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{prov}/boot/boot.ipxe").status_code == 200
        assert http.get(f"{prov}/boot/agent/kernel").status_code == 200
        for path in ("/boot/boot.ipxe", "/boot/agent/kernel",
                     "/boot/nodes/52-54-00-00-00-01.ipxe"):
            r = http.get(f"{other}{path}")
            assert r.status_code == 404 and "ipxe" not in r.text, (path, r.text)
        # The agent's endpoints: the handler runs on the provisioning address (its own
        # 400 for a lookup with no address), nowhere else.
        assert "addresses" in fault(http.get(f"{prov}/baremetal/v1/lookup", headers=version),
                                    400)
        assert fault(http.get(f"{other}/baremetal/v1/lookup", headers=version), 404)
        for method, path in (("POST", "/heartbeat/n1"), ("GET", "/agent/n1/command"),
                             ("POST", "/agent/n1/command/c1")):
            r = http.request(method, f"{other}/baremetal/v1{path}", headers=version,
                             json={"status": "succeeded"})
            assert "could not be found" in fault(r, 404)
        # The APIs for people answer on any address.
        assert http.get(f"{other}/baremetal/v1/nodes", headers=version).status_code == 200
        assert http.get(f"{prov}/baremetal/v1/nodes", headers=version).status_code == 200
