"""``agent`` deploy and inspect: work done by the agent in the machine's ramdisk.

Every method returns an :class:`AgentCommand`; the engine stores it and the
node waits until the agent reports.  The conductor never connects to the
machine, so a machine behind NAT or a firewall deploys the same.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar

from barecloud import states
from barecloud.drivers.base import AgentCommand, NodeView, StepResult
from barecloud.drivers.settings import Setting
from barecloud.errors import InvalidParameter

HASH_ALGOS = ("sha512", "sha256", "md5")
ERASE_MODES = ("quick", "full")
# Manual clean steps (Ironic's names) and the erase each one means.
ERASE_STEPS = {"erase_devices": "full", "erase_devices_metadata": "quick"}


def image_command(node: NodeView) -> AgentCommand:
    """The write_image command for what ``instance_info`` says to deploy."""
    info = node.instance_info
    url = info.get("image_url") or info.get("image_source")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidParameter(
            f"Node {node.uuid}: instance_info needs image_source: a Glance image id or an "
            "http(s) URL of a raw image."
        )
    algo = info.get("image_os_hash_algo")
    value = info.get("image_os_hash_value")
    if not value and info.get("image_checksum"):
        algo, value = "md5", info["image_checksum"]
    algo = algo or "sha512"
    if algo not in HASH_ALGOS or not isinstance(value, str) or not value:
        raise InvalidParameter(
            f"Node {node.uuid}: instance_info needs image_os_hash_value (with "
            f"image_os_hash_algo one of {', '.join(HASH_ALGOS)}) or image_checksum (md5), "
            "so the agent can verify what it writes."
        )
    params: dict[str, Any] = {"url": url, "os_hash_algo": algo, "os_hash_value": value.lower()}
    if info.get("image_size"):
        params["size"] = int(info["image_size"])
    if info.get("root_device_name"):
        params["disk"] = str(info["root_device_name"])
    return AgentCommand("write_image", params)


def configdrive_files(node: NodeView, drive: dict[str, Any]) -> dict[str, bytes]:
    """The files of an OpenStack config drive (``config-2``) from Ironic's JSON form.

    ``meta_data`` gets the defaults cloud-init relies on (uuid, hostname,
    name); without ``network_data`` every port is a DHCP link.
    """
    meta = dict(drive.get("meta_data") or {})
    uuid = str(node.workflow_args.get("instance_uuid") or meta.get("uuid") or node.uuid)
    name = node.name or node.uuid
    meta.setdefault("uuid", uuid)
    meta.setdefault("hostname", name)
    meta.setdefault("name", name)
    meta.setdefault("launch_index", 0)
    meta.setdefault("availability_zone", "nova")
    meta.setdefault("public_keys", {})
    meta.setdefault("files", [])
    network = drive.get("network_data")
    if network is None:
        links = [{"id": f"port{i}", "type": "phy", "ethernet_mac_address": p.address,
                  "mtu": 1500} for i, p in enumerate(node.ports)]
        network = {
            "links": links,
            "networks": [{"id": f"network{i}", "type": "ipv4_dhcp", "link": link["id"],
                          "network_id": f"network{i}"} for i, link in enumerate(links)],
            "services": [],
        }
    files = {
        "openstack/latest/meta_data.json": json.dumps(meta, sort_keys=True).encode(),
        "openstack/latest/network_data.json": json.dumps(network, sort_keys=True).encode(),
        "openstack/latest/vendor_data.json": json.dumps(drive.get("vendor_data") or {}).encode(),
        "openstack/latest/vendor_data2.json": b"{}",
    }
    user_data = drive.get("user_data")
    if isinstance(user_data, (dict, list)):
        user_data = json.dumps(user_data)
    if user_data is not None:
        files["openstack/latest/user_data"] = (
            user_data.encode() if isinstance(user_data, str) else bytes(user_data))
    return files


CONFIGDRIVE_KEYS: dict[str, type | tuple[type, ...]] = {
    "meta_data": dict, "network_data": dict, "vendor_data": dict,
    "user_data": (str, dict, list)}


def check_configdrive(drive: Any) -> None:
    """Refuse a config drive the agent could not write, before any work starts."""
    if isinstance(drive, dict):
        unknown = set(drive) - set(CONFIGDRIVE_KEYS)
        if unknown:
            raise InvalidParameter(
                f"Unknown config drive keys {sorted(unknown)}; expected meta_data, "
                "network_data, user_data, vendor_data."
            )
        for key, kind in CONFIGDRIVE_KEYS.items():
            if drive.get(key) is not None and not isinstance(drive[key], kind):
                raise InvalidParameter(f"Config drive {key} has the wrong type.")
        return
    if isinstance(drive, str) and drive:
        if drive.startswith(("http://", "https://")):
            raise InvalidParameter("A config drive URL is not supported; pass the JSON form "
                                   "or a gzipped, base64-encoded ISO image.")
        return
    raise InvalidParameter("configdrive must be a JSON object or a base64-encoded gzipped ISO.")


def configdrive_command(node: NodeView) -> AgentCommand | None:
    drive = node.workflow_args.get("configdrive")
    if drive is None:
        return None
    check_configdrive(drive)
    if isinstance(drive, dict):
        files = configdrive_files(node, drive)
        return AgentCommand("write_configdrive", {
            "files": {path: base64.b64encode(data).decode() for path, data in files.items()},
        })
    return AgentCommand("write_configdrive", {"image": drive})


def erase_mode(node: NodeView) -> str:
    """Full for the manual step ``erase_devices``; else the automated cleaning's mode."""
    for step in node.workflow_args.get("clean_steps") or ():
        if isinstance(step, dict) and step.get("step") in ERASE_STEPS:
            return ERASE_STEPS[str(step["step"])]
    mode = str(node.workflow_args.get("erase_mode") or "quick")
    return mode if mode in ERASE_MODES else "quick"


class AgentDeploy:
    settings: ClassVar[tuple[Setting, ...]] = ()
    chains = True  # its agents can pass an image down a chain (conductor/batches.py)

    def validate(self, node: NodeView) -> None:
        if node.provision_state in (states.DEPLOYING, states.DEPLOYWAIT):
            image_command(node)

    async def write_image(self, node: NodeView) -> StepResult:
        return image_command(node)

    async def write_configdrive(self, node: NodeView) -> StepResult:
        return configdrive_command(node)

    async def shutdown(self, node: NodeView) -> StepResult:
        return AgentCommand("power_off")

    async def erase(self, node: NodeView) -> StepResult:
        return AgentCommand("erase", {"mode": erase_mode(node)})

    async def tear_down(self, node: NodeView) -> None:
        return None


class AgentInspect:
    """In-band inspection: the agent reports what the machine really has."""

    settings: ClassVar[tuple[Setting, ...]] = ()
    in_band = True

    def validate(self, node: NodeView) -> None:
        return None

    async def inspect(self, node: NodeView) -> AgentCommand:
        return AgentCommand("get_inventory")
