"""openstacksdk and the ``openstack image`` CLI, unmodified, against barecloud's Image API.

Both are configured only by the clouds.yaml the service writes (cloud
``barecloud-admin``, through Identity); nothing here knows barecloud is not Glance.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
from openstack import exceptions
from openstack.connection import Connection
from openstack.image.v2._proxy import Proxy as ImageProxy

from tests import preloaded, support

OPENSTACK = Path(sys.executable).parent / "openstack"
Connect = Callable[[support.Service], Connection]


def image_proxy(conn: Connection) -> ImageProxy:
    """The Image API proxy; discovery at /image must have found v2."""
    proxy = conn.image
    assert isinstance(proxy, ImageProxy), type(proxy)
    return proxy


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connect]:
    made: list[Connection] = []

    def make(svc: support.Service) -> Connection:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(svc.clouds_yaml))
        monkeypatch.delenv("OS_CLOUD", raising=False)
        conn = openstack.connect(cloud="barecloud-admin")
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


@pytest.fixture
def service(keystone_service: support.Service) -> support.Service:
    """These tests speak as the clients do: with Identity."""
    return keystone_service


@pytest.fixture
def pg_service(keystone_pg_service: support.Service) -> support.Service:
    return keystone_pg_service


@pytest.mark.parametrize("which", ["service", "pg_service"])
def test_sdk_image_lifecycle(which: str, request: pytest.FixtureRequest, connect: Connect,
                             tmp_path: Path) -> None:
    svc: support.Service = request.getfixturevalue(which)
    image_api = image_proxy(connect(svc))
    data = os.urandom(3 * (1 << 20) + 5)

    image = image_api.create_image(name=f"sdk-{which}", data=data, disk_format="raw",
                                   container_format="bare", tags=["one"], os_distro="debian")
    image = image_api.get_image(image.id)
    assert image.status == "active" and image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert (image.hash_algo, image.hash_value) == ("sha512", hashlib.sha512(data).hexdigest())
    assert image.tags == ["one"] and image.os_distro == "debian"
    assert image.visibility == "shared" and image.is_protected is False

    assert [i.id for i in image_api.images()] == [image.id]
    assert image_api.find_image(f"sdk-{which}", ignore_missing=False).id == image.id
    assert image_api.download_image(image).content == data  # checked against os_hash_value
    image_api.download_image(image, output=str(tmp_path / "out.img"))
    assert (tmp_path / "out.img").read_bytes() == data

    image_api.update_image(image, name="renamed", min_ram=256, os_distro="ubuntu")
    image_api.add_tag(image, "two")
    image_api.remove_tag(image, "one")
    image = image_api.get_image(image.id)
    assert (image.name, image.min_ram, image.os_distro, image.tags) == (
        "renamed", 256, "ubuntu", ["two"])

    more = [image_api.create_image(name=f"page-{i}", data=b"x" * i, disk_format="raw",
                                   container_format="bare", allow_duplicates=True)
            for i in range(1, 4)]
    listed = list(image_api.images(limit=2))  # follows Glance's relative "next" links
    assert sorted(i.id for i in listed) == sorted([image.id, *(m.id for m in more)])
    assert [i.name for i in image_api.images(sort="name:asc", tag="two")] == ["renamed"]

    with pytest.raises(exceptions.BadRequestException, match="is not one of"):
        image_api.create_image(name="bad", data=b"x", disk_format="vmdk",
                               container_format="bare")
    image_api.update_image(image, is_protected=True)
    with pytest.raises(exceptions.ForbiddenException, match="protected"):
        image_api.delete_image(image)
    image_api.update_image(image, is_protected=False)
    image_api.delete_image(image)
    with pytest.raises(exceptions.NotFoundException):
        image_api.get_image(image.id)
    assert sorted(i.name for i in image_api.images()) == ["page-1", "page-2", "page-3"]


def test_sdk_members(service: support.Service, connect: Connect) -> None:
    image_api = image_proxy(connect(service))
    image = image_api.create_image(name="to-share", data=b"share me", disk_format="raw",
                                   container_format="bare", visibility="shared")
    member = image_api.add_member(image, member_id="project-b")
    assert (member.member_id, member.status) == ("project-b", "pending")
    image_api.update_member(member, image, status="accepted")
    assert [(m.member_id, m.status) for m in image_api.members(image)] == [
        ("project-b", "accepted")]
    image_api.remove_member(member, image)
    assert list(image_api.members(image)) == []


class Cli:
    def __init__(self, svc: support.Service) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update({"OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml),
                         "OS_CLOUD": "barecloud-admin",
                         "PYTHONWARNINGS": "ignore"})

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = preloaded.run([str(OPENSTACK), "image", *args], env=self.env,
                             capture_output=True, text=True, timeout=120)
        assert (proc.returncode == 0) == ok, (args, proc.stdout, proc.stderr)
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)


@pytest.mark.slow  # about ten CLI start-ups
@pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed")
def test_openstack_image_cli(service: support.Service, tmp_path: Path) -> None:
    cli = Cli(service)
    data = os.urandom(1 << 20)
    (tmp_path / "disk.img").write_bytes(data)

    created = cli.json("create", "--disk-format", "raw", "--file", str(tmp_path / "disk.img"),
                       "--property", "os_distro=debian", "--tag", "cli", "cli-image")
    assert created["status"] == "active" and created["size"] == len(data)
    assert created["checksum"] == hashlib.md5(data).hexdigest()
    assert created["properties"]["os_distro"] == "debian"

    assert [(i["Name"], i["Status"]) for i in cli.json("list")] == [("cli-image", "active")]
    shown = cli.json("show", "cli-image")
    assert shown["id"] == created["id"] and shown["disk_format"] == "raw"
    assert shown["tags"] == ["cli"]

    cli.run("set", "--name", "cli-renamed", "--min-ram", "128", "cli-image")
    assert cli.json("show", "cli-renamed")["min_ram"] == 128
    cli.run("save", "--file", str(tmp_path / "saved.img"), "cli-renamed")
    assert (tmp_path / "saved.img").read_bytes() == data

    failed = cli.run("create", "--disk-format", "vmdk", "--file", str(tmp_path / "disk.img"),
                     "bad-format", ok=False)
    assert "vmdk" in failed.stderr
    cli.run("delete", "cli-renamed")
    assert cli.json("list") == []
    assert not (service.data_dir / "images" / created["id"]).exists()


@pytest.mark.slow  # about a dozen CLI start-ups
@pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed")
def test_openstack_image_cli_import_deactivate_metadefs(service: support.Service,
                                                        tmp_path: Path) -> None:
    cli = Cli(service)
    data = os.urandom(1 << 20)
    (tmp_path / "disk.img").write_bytes(data)

    info = cli.run("import", "info").stdout
    assert "glance-direct" in info and "web-download" not in info
    # --import: the client stages the file and imports it with glance-direct.
    created = cli.json("create", "--import", "--disk-format", "raw", "--file",
                       str(tmp_path / "disk.img"), "cli-imported")
    for _ in range(300):
        shown = cli.json("show", created["id"])
        if shown["status"] not in ("uploading", "importing"):
            break
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    (task,) = cli.json("task", "list")
    assert task["Status"] == "success" and task["Type"] == "api_image_import"

    cli.run("set", "--deactivate", created["id"])
    assert cli.json("show", created["id"])["status"] == "deactivated"
    cli.run("set", "--activate", created["id"])
    assert cli.json("show", created["id"])["status"] == "active"

    types = [t["Name"] for t in cli.json("metadef", "resource", "type", "list")]
    assert "OS::Glance::Image" in types
    cli.run("metadef", "namespace", "create", "--public", "--protected", "cli-ns")
    assert [n["namespace"] for n in cli.json("metadef", "namespace", "list")] == ["cli-ns"]
    cli.run("metadef", "property", "create", "--name", "hw_rng", "--title", "RNG", "--type",
            "boolean", "--schema", '{"description": "A random number generator"}', "cli-ns")
    assert cli.json("metadef", "property", "show", "cli-ns", "hw_rng")["title"] == "RNG"
    failed = cli.run("metadef", "namespace", "delete", "cli-ns", ok=False)
    assert "protected" in failed.stderr
    cli.run("metadef", "namespace", "set", "--unprotected", "cli-ns")
    cli.run("metadef", "namespace", "delete", "cli-ns")
    assert cli.json("metadef", "namespace", "list") == []
