"""VMs with the unmodified ``openstack`` CLI: a real host agent (its fake driver)
serving a hypervisor of a real service, every action of a VM's life through
``openstack server ...``, and the hypervisor as ``openstack hypervisor`` shows it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import support
from tests.acceptance import vm_hosts
from tests.acceptance.openstack_cli import Cli


@pytest.fixture
def host(service: support.Service, tmp_path: Path) -> Iterator[dict[str, Any]]:
    made, credential = vm_hosts.enrol(service)
    with vm_hosts.host_agent(service.url, tmp_path, credential, "--driver", "fake",
                             "--fake-vcpus", "4", "--fake-memory-mb", "8192",
                             "--fake-disk-gb", "40"):
        yield made


@pytest.mark.slow
def test_a_vm_through_the_openstack_cli(service: support.Service, host: dict[str, Any],
                                        tmp_path: Path) -> None:
    cli = Cli(service)
    image = tmp_path / "tiny.raw"
    image.write_bytes(b"\0" * 65536)
    cli.run("image", "create", "--file", str(image), "--disk-format", "raw", "--public",
            "tiny")
    cli.run("flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "vm.tiny")
    cli.run("flavor", "create", "--vcpus", "2", "--ram", "512", "--disk", "2", "vm.small")
    server = cli.json("server", "create", "--flavor", "vm.tiny", "--image", "tiny",
                      "--nic", "none", "--wait", "vm-one")
    assert server["status"] == "ACTIVE"
    assert server["OS-EXT-SRV-ATTR:host"] == host["hostname"]
    hypervisors = {h["Hypervisor Hostname"]: h for h in cli.json("hypervisor", "list")}
    assert hypervisors[host["hostname"]]["Hypervisor Type"] == "fake"
    assert hypervisors[host["hostname"]]["State"] == "up"

    cli.run("server", "stop", "vm-one")
    status_becomes(cli, "vm-one", "SHUTOFF")
    cli.run("server", "start", "vm-one")
    status_becomes(cli, "vm-one", "ACTIVE")
    cli.run("server", "reboot", "--hard", "--wait", "vm-one")
    assert cli.json("server", "show", "vm-one")["status"] == "ACTIVE"
    cli.run("server", "resize", "--flavor", "vm.small", "--wait", "vm-one")
    assert cli.json("server", "show", "vm-one")["status"] == "VERIFY_RESIZE"
    cli.run("server", "resize", "confirm", "vm-one")
    shown = cli.json("server", "show", "vm-one")
    assert (shown["status"], shown["flavor"]["vcpus"]) == ("ACTIVE", 2)
    assert "vm-one login:" in cli.run("console", "log", "show", "vm-one").stdout
    cli.run("server", "rebuild", "--image", "tiny", "--wait", "vm-one")
    cli.run("server", "delete", "--wait", "vm-one")
    assert cli.json("server", "list") == []
    deadline = time.monotonic() + 30
    while True:  # usage as microversions below 2.88 show it; running_vms as the host reports
        shown = cli.json("--os-compute-api-version", "2.87", "hypervisor", "show",
                         host["hostname"])
        if (shown["vcpus_used"], shown["running_vms"]) == (0, 0):
            break
        assert time.monotonic() < deadline, shown
        time.sleep(0.5)
    assert shown["aggregates"] == ["nova"]
    assert shown["load_average"].count(",") == 2  # the host agent's uptime, parsed by the CLI


def status_becomes(cli: Cli, name: str, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (now := cli.json("server", "show", name)["status"]) != status:
        assert time.monotonic() < deadline, f"{name} is {now}, not {status}"
        time.sleep(0.5)
