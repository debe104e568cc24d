"""What a hypervisor's boot reads from its config drive: whom its host agent
reports to, with which credential, under which name, and its address.

The service writes them when it deploys a machine as a hypervisor
(services/compute/hypervisor_nodes.py): ``vendor_data.json`` holds
``barecloud_host_agent: {url, credential}``; ``network_data.json`` the
static address of the NIC bound to the hypervisor network (barecloud's boot
DHCP answers only machines being provisioned, so no lease would come).

    python3 -m barecloud.hostagent.firstboot DIR OUT

is what the hypervisor image's /init runs (DIR: ``openstack/latest`` of the
mounted drive): it writes into OUT ``url``, ``credential`` (mode 0600, made
so before a byte is in it), ``hostname``, and ``static`` (one line per
address: ``MAC ADDRESS/PREFIX [GATEWAY]``) when the drive gives one.  Exit
1, with one line on stderr, when there is no ``barecloud_host_agent`` entry.
The netns lab's machines (lab/hypervisor.py) read the same with the
functions below.  Standard library only: it runs in the image.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

VENDOR_KEY = "barecloud_host_agent"


def agent_config(vendor: Any) -> tuple[str, str] | None:
    """(service URL, credential) from vendor data, or None if it has none."""
    agent = vendor.get(VENDOR_KEY) if isinstance(vendor, Mapping) else None
    url = agent.get("url") if isinstance(agent, Mapping) else None
    credential = agent.get("credential") if isinstance(agent, Mapping) else None
    if (isinstance(url, str) and url.startswith(("http://", "https://"))
            and isinstance(credential, str) and credential):
        return url, credential
    return None


def hostname(meta: Any) -> str | None:
    name = (meta.get("hostname") or meta.get("name")) if isinstance(meta, Mapping) else None
    return name.split(".")[0] if isinstance(name, str) and name else None


def static_addresses(network: Any) -> list[tuple[str, str, str | None]]:
    """(MAC, address/prefix, gateway or None) of each static IPv4 network of
    ``network_data.json``, in its order (cloud-init's reading of ``ipv4``)."""
    if not isinstance(network, Mapping):
        return []
    links = {str(link.get("id")): str(link.get("ethernet_mac_address", "")).lower()
             for link in network.get("links") or () if isinstance(link, Mapping)}
    found: list[tuple[str, str, str | None]] = []
    for net in network.get("networks") or ():
        if not isinstance(net, Mapping) or net.get("type") != "ipv4":
            continue
        mac = links.get(str(net.get("link")))
        try:
            iface = ipaddress.IPv4Interface(f"{net.get('ip_address')}/{net.get('netmask')}")
        except ValueError:
            continue
        if not mac:
            continue
        gateway = next((str(r["gateway"]) for r in net.get("routes") or ()
                        if isinstance(r, Mapping) and r.get("network") == "0.0.0.0"
                        and r.get("gateway")), None)
        found.append((mac, iface.with_prefixlen, gateway))
    return found


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        print(f"barecloud-hypervisor: {path}: {exc}", file=sys.stderr)
        return {}


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python3 -m barecloud.hostagent.firstboot DIR OUT", file=sys.stderr)
        return 2
    src, out = Path(args[0]), Path(args[1])
    name = hostname(_load(src / "meta_data.json"))
    if name:
        _write(out / "hostname", name)
    static = static_addresses(_load(src / "network_data.json"))
    if static:
        _write(out / "static", "\n".join(" ".join(x for x in entry if x) for entry in static))
    agent = agent_config(_load(src / "vendor_data.json"))
    if agent is None:
        print(f"barecloud-hypervisor: vendor_data.json has no {VENDOR_KEY} "
              "{url, credential}", file=sys.stderr)
        return 1
    _write(out / "url", agent[0])
    _write(out / "credential", agent[1], 0o600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
