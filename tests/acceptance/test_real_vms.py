"""A real VM through the unmodified ``openstack`` CLI: the host agent runs QEMU
(TCG here), the project's small VM image boots from its qcow2 overlay, reads
its config drive and prints its hostname and SSH key on the serial console,
which ``openstack console log show`` reads through the service."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests import support
from tests.acceptance import vm_hosts
from tests.acceptance.openstack_cli import Cli


def console_shows(cli: Cli, server: str, pattern: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = cli.run("console", "log", "show", server).stdout
        if re.search(pattern, text):
            return text
        assert time.monotonic() < deadline, f"{pattern!r} not on the console:\n{text[-2000:]}"
        time.sleep(1)


@pytest.mark.slow
def test_a_real_vm_boots_and_shows_its_hostname_and_key(service: support.Service,
                                                          tmp_path: Path) -> None:
    image = vm_hosts.build_vm_image()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tester@barecloud",
                    "-f", str(tmp_path / "key")], check=True)
    _, credential = vm_hosts.enrol(service)
    cli = Cli(service)
    with vm_hosts.host_agent(service.url, tmp_path, credential, "--driver", "qemu"):
        cli.run("image", "create", "--file", str(image), "--disk-format", "qcow2",
                "--public", "tiny")
        cli.run("flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "vm.tiny")
        cli.run("keypair", "create", "--public-key", str(tmp_path / "key.pub"), "mine")
        server = cli.json("server", "create", "--flavor", "vm.tiny", "--image", "tiny",
                          "--key-name", "mine", "--nic", "none", "--wait", "vm-real")
        assert server["status"] == "ACTIVE"
        text = console_shows(cli, "vm-real", r"vm-real login:")
        assert "barecloud-vm: hostname vm-real" in text
        assert "barecloud-vm: ssh key ssh-ed25519 tester@barecloud" in text
        cli.run("server", "reboot", "--hard", "--wait", "vm-real")
        console_shows(cli, "vm-real", r"(?s)vm-real login:.*vm-real login:")
        cli.run("server", "delete", "--wait", "vm-real")
        left = list((tmp_path / "host").glob("vms/*"))
        assert left == [], left
