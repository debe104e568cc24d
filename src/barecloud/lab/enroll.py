"""Enroll the lab's machines in barecloud, over its Bare Metal API only.

Each machine becomes a node (same name and UUID) with the driver asked
for and the BMC details that driver needs (and ``console_log``, the file
its serial console goes to), ``resource_class`` "baremetal",
``properties`` from its hardware profile, and one port per NIC (in a
netns lab with its ``local_link_connection``: the lab switch's id and name
and the NIC's switch port, what the network interface binds).  Nodes
that exist (by name) are left alone; missing ports are added, so an
interrupted enrollment completes when run again.  Existing nodes and
ports are listed once, page by page, rather than asked for one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from barecloud.lab.layout import HOST, LabDir, LabState
from barecloud.lab.machine import LabError, Machine

API_VERSION = "1.78"
DRIVERS = ("ipmi", "redfish", "fake-hardware")


@dataclass
class Enrolled:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ports: int = 0


def node_body(machine: Machine, driver: str, redfish_url: str) -> dict[str, Any]:
    """What ``POST /baremetal/v1/nodes`` gets for a machine."""
    if driver == "ipmi":
        info: dict[str, Any] = {
            "ipmi_address": HOST,
            "ipmi_port": machine.ipmi_port,
            "ipmi_username": machine.username,
            "ipmi_password": machine.password,
        }
    elif driver == "redfish":
        info = {
            "redfish_address": redfish_url,
            "redfish_system_id": f"/redfish/v1/Systems/{machine.name}",
            "redfish_username": machine.username,
            "redfish_password": machine.password,
        }
    elif driver == "fake-hardware":
        info = {}
    else:
        raise LabError(f"unknown driver {driver!r}; one of: {', '.join(DRIVERS)}")
    # Where the serial console is captured: Compute's console output reads it.
    info["console_log"] = str(machine.console_path.resolve())
    p = machine.profile
    return {
        "name": machine.name,
        "uuid": machine.uuid,
        "driver": driver,
        "driver_info": info,
        "resource_class": "baremetal",
        "properties": {
            "cpus": p.cpus,
            "memory_mb": p.memory_mb,
            "local_gb": p.disk_gb,
            "cpu_arch": p.cpu_arch,
            "capabilities": f"boot_mode:{machine.boot.mode}",
        },
    }


def port_body(state: LabState, machine: Machine, nic: int, node_uuid: str) -> dict[str, Any]:
    """What ``POST /baremetal/v1/ports`` gets for a NIC: in a netns lab, its switch port.

    No ``physical_network``: the lab switch carries every segment, so no
    network needs to be told apart by it.
    """
    body: dict[str, Any] = {"address": machine.macs[nic], "node_uuid": node_uuid}
    wiring = state.netns
    if wiring is not None and machine.name in wiring.machines:
        body["local_link_connection"] = wiring.local_link(machine.name, nic)
    return body


def _api_root(url: str) -> str:
    """The service's URL, whether given as the root, ``/baremetal`` or ``/baremetal/v1``."""
    url = url.rstrip("/")
    for suffix in ("/v1", "/baremetal"):
        url = url.removesuffix(suffix)
    return url


async def enroll(
    lab: LabDir,
    url: str,
    driver: str,
    *,
    token: str | None = None,
    concurrency: int = 8,
    progress: Callable[[str], None] = lambda _: None,
) -> Enrolled:
    """Enroll every machine of the lab not enrolled yet."""
    if driver not in DRIVERS:
        raise LabError(f"unknown driver {driver!r}; one of: {', '.join(DRIVERS)}")
    state = lab.read()
    machines = list(lab.machines())
    headers = {"X-OpenStack-Ironic-API-Version": API_VERSION}
    if token:
        headers["X-Auth-Token"] = token
    done = Enrolled()
    async with httpx.AsyncClient(base_url=_api_root(url), headers=headers, timeout=60) as http:
        nodes = {n["name"]: n["uuid"] for n in await _list(http, "nodes", "uuid,name")}
        ports = {p["address"] for p in await _list(http, "ports", "uuid,address")}
        limit = asyncio.Semaphore(concurrency)

        async def one(machine: Machine) -> None:
            async with limit:
                uuid = nodes.get(machine.name)
                if uuid is None:
                    body = node_body(machine, driver, _redfish_url(state, machine))
                    if state.netns is not None:
                        # Cabled to the lab switch: barecloud moves its ports.
                        body["network_interface"] = "neutron"
                    uuid = (await _post(http, "nodes", body))["uuid"]
                    done.created.append(machine.name)
                else:
                    done.skipped.append(machine.name)
                for nic, mac in enumerate(machine.macs):
                    if mac not in ports:
                        await _post(http, "ports", port_body(state, machine, nic, uuid))
                        done.ports += 1
                count = len(done.created) + len(done.skipped)
                if count % 1000 == 0:
                    progress(f"enrolled {count}/{len(machines)}")

        await asyncio.gather(*(one(m) for m in machines))
    return done


def _redfish_url(state: LabState, machine: Machine) -> str:
    return state.shards[machine.shard].redfish_url


async def _list(http: httpx.AsyncClient, kind: str, fields: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = f"/baremetal/v1/{kind}?fields={fields}&limit=1000"
    while url:
        rsp = await http.get(url)
        _check(rsp, f"GET {kind}")
        page = rsp.json()
        items.extend(page[kind])
        url = page.get("next")
    return items


async def _post(http: httpx.AsyncClient, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    rsp = await http.post(f"/baremetal/v1/{kind}", json=body)
    _check(rsp, f"POST {kind} {body.get('name') or body.get('address')}")
    data: dict[str, Any] = rsp.json()
    return data


def _check(rsp: httpx.Response, what: str) -> None:
    if rsp.status_code >= 400:
        raise LabError(f"{what}: HTTP {rsp.status_code}: {_message(rsp)}")


def _message(rsp: httpx.Response) -> str:
    """Ironic's error text, which hides as JSON inside ``error_message``."""
    try:
        body = rsp.json()
        return str(body.get("error_message", body))
    except ValueError:
        return rsp.text[:300]
