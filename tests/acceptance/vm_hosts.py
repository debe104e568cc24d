"""A hypervisor for tests and benchmarks: enrolled through the API, served by a
real host agent process (the fake driver, or QEMU under TCG)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests import support
from tests.api.compute.nova import Nova

VM_IMAGE = support.REPO / ".cache/vm-image/barecloud-tiny.qcow2"
AGENT = "/compute/barecloud-host-agent/v1"  # where a host agent speaks


def enrol(svc: support.Service, **extra: Any) -> tuple[dict[str, Any], str]:
    """A new hypervisor row and its credential."""
    nova = Nova(svc)
    try:
        made: dict[str, Any] = nova.ok("POST", "/barecloud-hypervisors", 201, json={
            "hypervisor": {"hostname": f"hv-{uuid.uuid4().hex[:6]}", **extra}})["hypervisor"]
    finally:
        nova.close()
    return made, made.pop("credential")


@contextmanager
def host_agent(url: str, tmp: Path, credential: str, *args: str
               ) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m barecloud.hostagent`` for the credential, stopped (SIGTERM) after."""
    secret = tmp / "credential"
    secret.write_text(credential)
    secret.chmod(0o600)
    agent = subprocess.Popen(
        [sys.executable, "-m", "barecloud.hostagent", "--url", url, "--credential-file",
         str(secret), "--state-dir", str(tmp / "host"), *args],
        stdout=(tmp / "host-agent.log").open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(support.REPO / "src")})
    try:
        yield agent
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            code = agent.wait(60)
        except subprocess.TimeoutExpired:
            agent.kill()
            raise
        assert code == 0, (tmp / "host-agent.log").read_text()[-3000:]


def build_vm_image() -> Path:
    """The project's small VM image (scripts/build-vm-image; quick when built)."""
    subprocess.run([str(support.REPO / "scripts/build-vm-image")], check=True,
                   stdout=subprocess.DEVNULL)
    return VM_IMAGE
