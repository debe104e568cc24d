"""Deploy batches on a loopback lab: one image to many machines through the chain.

A barecloud service and a loopback lab of real BMCs; every machine
network-boots the real agent.  A batch is asked for through the operator's
``barecloud-deploy-batches`` and through ``server create --min-count``; the
report must say, per machine, where it sat in the chain and where its bytes
came from.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import support
from tests.acceptance.lab_cloud import HEADERS, Cloud
from tests.acceptance.openstack_cli import Cli
from tests.lab.conftest import make_lab

pytestmark = pytest.mark.slow

MACHINES = 5
MIB = 1 << 20
NAMES = [f"lab-{i:05d}" for i in range(1, MACHINES + 1)]


def settle(cloud: Cloud, names: list[str], state: str) -> None:
    for name in names:
        cloud.settle(name, state, timeout=180)


def batch_of(cloud: Cloud, ref: str) -> dict[str, Any]:
    rsp = cloud.bm.get(f"/barecloud-deploy-batches/{ref}")
    assert rsp.status_code == 200, rsp.text
    return dict(rsp.json())


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    tmp = tmp_path_factory.mktemp("batches")
    lab = make_lab(tmp / "lab", MACHINES)
    svc = support.start_service(tmp / "svc", extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "3600",
        "BARECLOUD_DEADLINE_CHECK_INTERVAL": "1",
    })
    bm = httpx.Client(base_url=f"{svc.baremetal}/v1", headers=HEADERS, timeout=30)
    try:
        lab.up(MACHINES, "--disk-gb", "1", "--boot-url", f"{svc.url}/boot/boot.ipxe",
               "--enroll", svc.url)
        c = Cloud(svc, bm, lab)
        for name in NAMES:
            c.provision(name, "manage")
        settle(c, NAMES, "manageable")
        for name in NAMES:
            c.provision(name, "provide")
        settle(c, NAMES, "available")
        yield c
    finally:
        bm.close()
        svc.stop()
        lab.cli("down", check=False)
        lab.kill()


@pytest.fixture(scope="module")
def image(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    data = os.urandom(24 * MIB)
    with httpx.Client(base_url=f"{cloud.svc.url}/image/v2", timeout=120) as api:
        rsp = api.post("/images", json={"name": "batch", "disk_format": "raw",
                                        "container_format": "bare"})
        assert rsp.status_code == 201, rsp.text
        image_id = str(rsp.json()["id"])
        rsp = api.put(f"/images/{image_id}/file", content=data,
                      headers={"Content-Type": "application/octet-stream"})
        assert rsp.status_code == 204, rsp.text
    return image_id, data


def test_bad_batches_are_refused_whole(cloud: Cloud, image: tuple[str, bytes]) -> None:
    image_id, _ = image
    cases = [
        ({"nodes": [], "image_source": image_id}, 400, "non-empty list"),
        ({"nodes": ["lab-00001", "nope"], "image_source": image_id}, 400, "No such node"),
        ({"nodes": ["lab-00001", "lab-00001"], "image_source": image_id}, 400,
         "more than once"),
        ({"nodes": ["lab-00001"], "image_source": image_id, "delivery": "carrier-pigeon"},
         400, "'delivery' must be one of chain, http"),
        ({"nodes": ["lab-00001"]}, 400, "'image_source'"),
        ({"nodes": ["lab-00001"], "image_source": "http://example.invalid/x.raw"}, 400,
         "image_os_hash_value"),
        ({"nodes": ["lab-00001"], "image_source": image_id, "colour": "red"}, 400,
         "Unknown field(s) colour"),
    ]
    for body, status, text in cases:
        rsp = cloud.bm.post("/barecloud-deploy-batches", json=body)
        assert rsp.status_code == status, (body, rsp.text)
        assert text in rsp.json()["error_message"], rsp.text  # Ironic's error body
    # A busy node refuses the whole batch: nothing starts.
    assert cloud.bm.put(f"/nodes/{NAMES[0]}/maintenance",
                        json={"reason": "test"}).status_code == 202
    rsp = cloud.bm.post("/barecloud-deploy-batches",
                        json={"nodes": NAMES[:2], "image_source": image_id})
    cloud.bm.delete(f"/nodes/{NAMES[0]}/maintenance")
    assert rsp.status_code == 409, rsp.text
    assert "lab-00001 (in maintenance)" in rsp.json()["error_message"]
    assert cloud.node(NAMES[1])["provision_state"] == "available"


def test_chain_batch_writes_every_disk_from_its_predecessor(
        cloud: Cloud, image: tuple[str, bytes]) -> None:
    image_id, data = image
    members = NAMES[:4]
    rsp = cloud.bm.post("/barecloud-deploy-batches", json={
        "nodes": members, "image_source": image_id, "delivery": "chain"})
    assert rsp.status_code == 202, rsp.text
    ref = rsp.json()["uuid"]
    assert rsp.json()["delivery"] == "chain" and rsp.json()["expected"] == 4
    settle(cloud, members, "active")
    batch = batch_of(cloud, ref)
    assert batch["state"] == "done", batch
    assert (batch["ok"], batch["ko"]) == (4, 0), batch
    rows = batch["members"]
    # In chain order: by name here (loopback machines have no switch ports).
    assert [m["node_name"] for m in rows] == members
    assert [m["position"] for m in rows] == [0, 1, 2, 3]
    image_url = f"/boot/images/{image_id}"
    head, *rest = rows
    assert [s["url"].endswith(image_url) for s in head["sources"]] == [True]
    for before, member in zip(rows, rest, strict=False):
        # Everything came from the predecessor, none from the image server.
        assert all(not s["url"].endswith(image_url) for s in member["sources"]), member
        assert member["sources"][0]["from"] == 0
        assert member["sources"][-1]["to"] == len(data)
        assert member["bytes"] == len(data)
        assert before["write_started_at"] <= member["write_finished_at"]
    assert batch["image_phase_seconds"] > 0
    digest = hashlib.sha512(data).hexdigest()
    for name in members:
        with cloud.disk(name).open("rb") as f:
            assert hashlib.sha512(f.read(len(data))).hexdigest() == digest, name
    listed = cloud.bm.get("/barecloud-deploy-batches").json()["deploy_batches"]
    assert ref in [b["uuid"] for b in listed]
    assert "chain_token" not in str(listed) and "/chain/" not in str(listed)
    for name in members:
        cloud.provision(name, "deleted")
    settle(cloud, members, "available")


def test_min_count_servers_deploy_as_one_chain(cloud: Cloud, image: tuple[str, bytes]) -> None:
    """``openstack server create --min 3 --hint image_delivery=chain``: one batch."""
    image_id, data = image
    cli = Cli(cloud.svc)
    cli.run("flavor", "create", "--ram", "1024", "--disk", "1", "--vcpus", "1",
            "--property", "resources:CUSTOM_BAREMETAL=1", "--property", "resources:VCPU=0",
            "batch-bm")
    refused = cli.run("server", "create", "--image", image_id, "--flavor", "batch-bm",
                      "--min", "2", "--max", "2", "--hint", "image_delivery=pigeon", "bad",
                      ok=False)
    assert "400" in refused.stderr and (
        "image_delivery: 'pigeon' is not one of chain, http" in refused.stderr)
    cli.run("server", "create", "--image", image_id, "--flavor", "batch-bm", "--min", "3",
            "--max", "3", "--hint", "image_delivery=chain", "web")
    deadline = time.monotonic() + 180
    while True:
        servers = [s for s in cli.json("server", "list") if s["Name"].startswith("web-")]
        if len(servers) == 3 and {s["Status"] for s in servers} == {"ACTIVE"}:
            break
        assert "ERROR" not in {s["Status"] for s in servers}, servers
        assert time.monotonic() < deadline, servers
        time.sleep(0.5)
    shown = cli.json("server", "show", servers[0]["ID"])
    batch = batch_of(cloud, shown["OS-EXT-SRV-ATTR:reservation_id"])
    assert (batch["delivery"], batch["expected"], batch["ok"]) == ("chain", 3, 3), batch
    assert sorted(m["position"] for m in batch["members"]) == [0, 1, 2]
    assert all(m["bytes"] == len(data) for m in batch["members"]), batch
    cli.run("server", "delete", "--wait", *[s["ID"] for s in servers])
    settle(cloud, NAMES, "available")
