"""``ipxe`` boot: a per-MAC iPXE script and a dnsmasq host entry per node.

Files only, under the data directory (docs/design/provisioning.md):

- ``boot/nodes/<aa-bb-cc-dd-ee-ff>.ipxe``: what ``/boot/boot.ipxe`` chains
  to; it carries the agent token, so it is written 0600 and atomically, and
  the boot API serves it once, within ``boot_script_ttl`` (services/boot/scripts.py);
- ``dnsmasq/hosts/<node uuid>``: ``dhcp-host`` lines dnsmasq reads through
  ``dhcp-hostsdir``, so that only machines being provisioned get an answer.

dnsmasq only ever *adds* host records at run time: deleting or emptying a
file leaves its records live until a restart.  A record for the same MAC
replaces the earlier one, though, so releasing a MAC rewrites its line as
``<mac>,ignore`` (Ironic's approach); :func:`compact_hosts` drops those
lines before dnsmasq starts, when they are no longer needed.  So after
``clean_up_ramdisk`` the deployed OS gets no DHCP answer from us: tenant
DHCP comes with the network interfaces.

The conductor calls :func:`configure` once at start with the data directory
and the URL machines reach the service at.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from barecloud.drivers.base import NodeView
from barecloud.drivers.settings import Setting
from barecloud.errors import InvalidParameter, PermanentDriverError

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
SCRIPT_NAME = re.compile(r"^[0-9a-f]{2}(-[0-9a-f]{2}){5}$")
HOST_TAG = "barecloud"

# The first stage every iPXE gets from DHCP: the node's script, or on to the
# next boot device (``exit``) when there is none (404).  Relative to itself.
BOOT_SCRIPT = "#!ipxe\nchain nodes/${mac:hexhyp}.ipxe || exit\n"


@dataclass(frozen=True)
class BootFiles:
    """Where the boot files live, and the URL machines fetch them from."""

    data_dir: Path
    base_url: str

    @property
    def scripts_dir(self) -> Path:
        return self.data_dir / "boot" / "nodes"

    @property
    def hosts_dir(self) -> Path:
        return self.data_dir / "dnsmasq" / "hosts"

    def script_path(self, mac: str) -> Path:
        return self.scripts_dir / f"{mac.replace(':', '-')}.ipxe"

    def host_path(self, node_uuid: str) -> Path:
        return self.hosts_dir / node_uuid


_files: BootFiles | None = None


def configure(data_dir: Path, base_url: str) -> None:
    """Tell the driver where to write (the conductor calls this at start)."""
    global _files
    _files = BootFiles(Path(data_dir).resolve(), base_url.rstrip("/"))


def files() -> BootFiles:
    if _files is None:
        raise PermanentDriverError(
            "The ipxe boot interface is not configured: the conductor calls "
            "barecloud.drivers.ipxe.configure() when it starts."
        )
    return _files


def node_script(base_url: str, node_uuid: str, token: str) -> str:
    base = base_url.rstrip("/")
    return (
        "#!ipxe\n"
        f"kernel {base}/boot/agent/kernel barecloud.api={base} barecloud.token={token} "
        f"barecloud.node={node_uuid} BOOTIF=01-${{mac:hexhyp}} console=ttyS0\n"
        f"initrd {base}/boot/agent/ramdisk\n"
        "boot\n"
    )


def normalize_mac(address: str) -> str:
    mac = address.strip().lower().replace("-", ":")
    if not _MAC.match(mac):
        raise InvalidParameter(f"Port address {address!r} is not a MAC address.")
    return mac


def boot_macs(node: NodeView) -> list[str]:
    """The MACs the machine may network-boot from: PXE-enabled ports, else all."""
    ports = [p for p in node.ports if p.pxe_enabled] or list(node.ports)
    if not ports:
        raise InvalidParameter(
            f"Node {node.uuid} has no ports: the ipxe boot interface needs at least one "
            "port (the MAC address of a NIC the machine boots from)."
        )
    return list(dict.fromkeys(normalize_mac(p.address) for p in ports))


def write_atomic(path: Path, text: str, mode: int) -> None:
    """Readers (dnsmasq, the boot API) see the old file or the new one, never half."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # A dot name: dnsmasq's inotify skips dotfiles, so it never reads a half file.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), mode)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _listed_macs(path: Path) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [line.split(",", 1)[0] for line in lines if _MAC.match(line.split(",", 1)[0])]


def write_host_entry(bf: BootFiles, node_uuid: str, answer: list[str]) -> list[str]:
    """Answer ``answer``; MACs the file listed before and no longer answers are ignored.

    Returns those released MACs.
    """
    path = bf.host_path(node_uuid)
    released = [m for m in _listed_macs(path) if m not in answer]
    lines = [f"{m},set:{HOST_TAG}" for m in answer] + [f"{m},ignore" for m in released]
    write_atomic(path, "".join(f"{line}\n" for line in lines), 0o600)
    return released


def compact_hosts(hosts_dir: Path) -> None:
    """Drop ``ignore`` lines before dnsmasq starts: unknown MACs get no answer anyway."""
    if not hosts_dir.is_dir():
        return
    for path in hosts_dir.iterdir():
        if path.name.startswith("."):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a temporary file a crash left behind
            continue
        lines = path.read_text().splitlines()
        kept = [line for line in lines if not line.endswith(",ignore")]
        if not kept:
            path.unlink()
        elif kept != lines:
            write_atomic(path, "".join(f"{line}\n" for line in kept), 0o600)


class IpxeBoot:
    """Network boot into the agent ramdisk through iPXE; local boot for instances."""

    settings: ClassVar[tuple[Setting, ...]] = ()
    # The script hands the machine its agent token: lookup must not.
    delivers_token: ClassVar[bool] = True

    def validate(self, node: NodeView) -> None:
        boot_macs(node)

    async def prepare_ramdisk(self, node: NodeView) -> None:
        bf = files()
        macs = boot_macs(node)
        if not node.agent_token:
            raise PermanentDriverError(
                f"Node {node.uuid} has no agent token: the boot script would give the "
                "agent nothing to prove itself with."
            )
        script = node_script(bf.base_url, node.uuid, node.agent_token)
        for mac in macs:
            write_atomic(bf.script_path(mac), script, 0o600)
        for mac in write_host_entry(bf, node.uuid, macs):
            with contextlib.suppress(FileNotFoundError):
                bf.script_path(mac).unlink()  # a NIC that no longer boots

    async def clean_up_ramdisk(self, node: NodeView) -> None:
        bf = files()
        listed = _listed_macs(bf.host_path(node.uuid))
        ports = (p.address.strip().lower().replace("-", ":") for p in node.ports)
        for mac in {*listed, *(m for m in ports if _MAC.match(m))}:
            with contextlib.suppress(FileNotFoundError):
                bf.script_path(mac).unlink()
        if listed:
            write_host_entry(bf, node.uuid, [])

    async def prepare_instance(self, node: NodeView) -> None:
        """Nothing to write: the instance boots from its local disk."""

    async def clean_up_instance(self, node: NodeView) -> None:
        """Remove what a ramdisk boot may have left (an aborted deploy)."""
        await self.clean_up_ramdisk(node)
