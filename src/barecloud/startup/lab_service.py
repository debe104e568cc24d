"""``serve --lab N``: a loopback lab of real BMCs, enrolled and made available.

The lab runs as processes of its own (``python -m barecloud.lab``): it is
hardware, and the service only ever talks to it over IPMI, Redfish and its
own API.  Here the service starts it, lets it enroll its machines through the
Bare Metal API (driver ``ipmi``), and walks the new nodes to ``available``
through the same workflows an operator would trigger.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from barecloud import states
from barecloud.config import Settings
from barecloud.db import hypervisor_models as hv_states
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.identity_models import Project
from barecloud.db.models import Node
from barecloud.db.network_models import Subnet
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.base import HostPlug
from barecloud.errors import NotFound
from barecloud.lab import netns as lab_netns
from barecloud.lab.layout import LabDir
from barecloud.services import children
from barecloud.services.baremetal import node_states
from barecloud.services.compute import hypervisor_nodes
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import bootstrap
from barecloud.services.network import networks as network_service
from barecloud.services.network import subnets as subnet_service
from barecloud.services.network.segments import segment
from barecloud.services.tenancy import service_context
from barecloud.startup import demo_content

log = logging.getLogger(__name__)


def lab_dir(settings: Settings) -> Path:
    return settings.data_dir / "lab"


def mode_conflict(settings: Settings, count: int, netns: bool) -> str | None:
    """Why ``serve --lab`` cannot use the data directory's lab, with the command that works.

    A lab's mode is fixed when it is built, and its machines are this database's
    nodes (servers, leases and history on them): the other mode gets a data
    directory of its own rather than a lab swapped under live records.
    """
    lab = LabDir(lab_dir(settings))
    if not lab.exists():
        return None
    built = lab.read().mode
    wanted = "netns" if netns else "loopback"
    if built == wanted:
        return None
    data = settings.data_dir if settings.data_dir.name else settings.data_dir.resolve()
    other = data.with_name(f"{data.name}-{wanted}")
    flags = f"--lab {count}" + (" --netns" if netns else "")
    return (f"{lab.path} holds a {built} lab, whose machines are the nodes of this data "
            f"directory; a {wanted} lab needs one of its own: "
            f"barecloud serve {flags} --data-dir {other}")


# serve --lab N --netns: the provisioning network the machines boot on, and
# barecloud's own address there (DHCP, iPXE scripts, the APIs, images).
PROVISIONING_NETWORK = "provisioning"
PROVISIONING_CIDR = ipaddress.ip_network("10.97.0.0/24")
PROVISIONING_IFNAME = "bcprov0"
# The lab switch's own address on the provisioning segment: its VXLAN tunnel
# endpoint, which the hypervisors (there too) reach for the tenant networks.
SWITCH_VTEP = PROVISIONING_CIDR.network_address + 254
SWITCH_VTEP_IFNAME = "bcvtep0"
# ... and its internet: an external network whose public pool floating IPs and
# router gateways take addresses from, on a flat segment the lab's outside
# namespace sits on with the subnet's gateway address.
EXTERNAL_NETWORK = "public"
EXTERNAL_CIDR = ipaddress.ip_network("203.0.113.0/24")
OUTSIDE_ADDRESS = EXTERNAL_CIDR.network_address + 1
OUTSIDE_IFNAME = "public0"
# Its IPv6 subnet (a documentation prefix): routers' gateways take an address on it
# too and route tenant prefixes without NAT; the outside holds ::1, the gateway.
EXTERNAL_CIDR6 = ipaddress.ip_network("2001:db8:ff::/64")
OUTSIDE_ADDRESS6 = EXTERNAL_CIDR6.network_address + 1


def wire_netns(settings: Settings, count: int, rate: str | None,
               switch: str | None = None) -> Settings:
    """Build the lab's switch and machine namespaces; the settings that drive them.

    Runs before the service: barecloud's provisioning address must exist
    before it listens there.  The lab's BMCs start too; enrollment waits
    until the APIs answer.  ``switch`` (linux-bridge or openvswitch) is what
    plays the lab switch; an Open vSwitch one carries segments as access
    VLANs (tenant networks default to ``vlan``) and exports sFlow from its
    address on the provisioning segment (docs/design/flows.md).
    """
    argv = [sys.executable, "-m", "barecloud.lab", "up", "--nodes", str(count), "--netns",
            "--lab-dir", str(lab_dir(settings)), "--owner-pid", str(os.getpid()), "--json"]
    if rate:
        argv += ["--rate", rate]
    if switch:
        argv += ["--switch", switch]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False,
                          preexec_fn=children.die_with_parent())
    if proc.returncode:
        raise SystemExit(f"the lab did not start: {proc.stderr.strip()}")
    info: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    switches: dict[str, dict[str, Any]] = {}
    for name, opts in info["switches"].items():
        if opts.get("driver") == "openvswitch":
            switches[name] = {**opts, "sflow_agent": SWITCH_VTEP_IFNAME}
        else:
            switches[name] = {**opts, "vxlan_local": str(SWITCH_VTEP)}
    host = str(PROVISIONING_CIDR.network_address + 1)
    first, last = PROVISIONING_CIDR.network_address + 100, PROVISIONING_CIDR.network_address + 250
    update: dict[str, Any] = {}
    if (any(o.get("driver") == "openvswitch" for o in switches.values())
            and "network_default_type" not in settings.model_fields_set):
        update["network_default_type"] = "vlan"
    return settings.model_copy(update={
        **update,
        "switches": {**settings.switches, **switches},
        "network_host_switch": next(iter(switches)),
        "provisioning_network": PROVISIONING_NETWORK,
        "host": host,
        # /boot/ and the agent's endpoints: for the machines' network only.
        "provisioning_listen_address": host,
        "dhcp_enabled": True,
        "dhcp_interface": PROVISIONING_IFNAME,
        "dhcp_range": f"{first},{last},{PROVISIONING_CIDR.netmask}",
    })


async def plug_provisioning(rt: Runtime) -> None:
    """The provisioning network (admin's), and this host's interface on its segment."""
    settings = rt.settings
    try:
        network = await network_service.find_network(rt.db, PROVISIONING_NETWORK)
    except NotFound:
        ctx = service_context("req-lab-netns")
        async with rt.db.session() as s:
            admin = await s.scalar(select(Project.id).where(Project.name == "admin"))
        network = await network_service.create(rt, ctx, {
            "name": PROVISIONING_NETWORK, "project_id": admin,
            "description": "where barecloud boots, deploys and cleans machines"})
        await subnet_service.create(rt, ctx, {
            "network_id": network.id, "project_id": admin, "name": PROVISIONING_NETWORK,
            "ip_version": 4, "cidr": str(PROVISIONING_CIDR), "enable_dhcp": False,
            "gateway_ip": None,
            # Below the boot DHCP's range (wire_netns): the ports of machines
            # that keep a static address here (hypervisors) never meet a lease.
            "allocation_pools": [{"start": str(PROVISIONING_CIDR.network_address + 2),
                                  "end": str(PROVISIONING_CIDR.network_address + 99)}]})
    switch = registry.switch(settings.network_host_switch)
    assert isinstance(switch, HostPlug)
    prefix = PROVISIONING_CIDR.prefixlen
    port = await switch.plug(segment(network), PROVISIONING_IFNAME, None,
                             (f"{settings.host}/{prefix}",))
    await asyncio.to_thread(shape_plug, settings, port)
    wiring = LabDir(lab_dir(settings)).read().netns
    assert wiring is not None, "a netns lab records its wiring"
    await switch.plug(segment(network), SWITCH_VTEP_IFNAME, wiring.switch_netns,
                      (f"{SWITCH_VTEP}/{prefix}",))
    if wiring.outside_netns:
        await plug_outside(rt, switch, wiring.outside_netns)


async def plug_outside(rt: Runtime, switch: HostPlug, outside_netns: str) -> None:
    """The operator's external network ``public`` (203.0.113.0/24 and 2001:db8:ff::/64,
    made once), and the lab's outside namespace on its segment as both subnets'
    gateway: the internet."""
    ctx = service_context("req-lab-netns")
    async with rt.db.session() as s:
        admin = await s.scalar(select(Project.id).where(Project.name == "admin"))
    try:
        network = await network_service.find_network(rt.db, EXTERNAL_NETWORK)
    except NotFound:
        network = await network_service.create(rt, ctx, {
            "name": EXTERNAL_NETWORK, "project_id": admin, "router:external": True,
            "provider:network_type": "flat", "provider:physical_network": EXTERNAL_NETWORK,
            "description": "the lab's internet: floating IPs and router gateways"})
        await subnet_service.create(rt, ctx, {
            "network_id": network.id, "project_id": admin, "name": EXTERNAL_NETWORK,
            "ip_version": 4, "cidr": str(EXTERNAL_CIDR), "enable_dhcp": False,
            "gateway_ip": str(OUTSIDE_ADDRESS),
            "allocation_pools": [{"start": str(EXTERNAL_CIDR.network_address + 10),
                                  "end": str(EXTERNAL_CIDR.network_address + 250)}]})
    async with rt.db.session() as s:  # a lab made before it had one gets it now
        has_v6 = await s.scalar(select(Subnet.id).where(Subnet.network_id == network.id,
                                                        Subnet.ip_version == 6).limit(1))
    if has_v6 is None:
        await subnet_service.create(rt, ctx, {
            "network_id": network.id, "project_id": admin, "name": f"{EXTERNAL_NETWORK}-v6",
            "ip_version": 6, "cidr": str(EXTERNAL_CIDR6), "enable_dhcp": False,
            "gateway_ip": str(OUTSIDE_ADDRESS6)})
    await switch.plug(segment(network), OUTSIDE_IFNAME, outside_netns,
                      (f"{OUTSIDE_ADDRESS}/{EXTERNAL_CIDR.prefixlen}",
                       f"{OUTSIDE_ADDRESS6}/{EXTERNAL_CIDR6.prefixlen}"))


def shape_plug(settings: Settings, port: str) -> None:
    """Shape barecloud's own cable (both ends) like the lab's: the image server's link
    is a cable of the lab switch too, and a rate that left it out would let the
    server send as fast as all its clients' cables together."""
    wiring = LabDir(lab_dir(settings)).read().netns
    assert wiring is not None, "a netns lab records its wiring"
    rate = wiring.rate or "off"  # a plug kept from a shaped run loses its shaping
    lab_netns.shape(None, PROVISIONING_IFNAME, rate)
    lab_netns.shape(wiring.switch_netns, port, rate)


async def start(rt: Runtime, settings: Settings, count: int, driver: str = "ipmi",
                netns: bool = False, hypervisors: int = 0) -> dict[str, Any]:
    """Start (or grow) the lab, enroll it, and bring its new nodes to available;
    in a netns lab, deploy ``hypervisors`` of them as hypervisors."""
    env = dict(os.environ)
    env.pop("OS_TOKEN", None)
    if settings.auth_strategy == "keystone":
        # The lab enrolls over the API as the admin; in the environment, not argv.
        env["OS_TOKEN"] = await bootstrap.admin_token(rt)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "barecloud.lab", "up", "--nodes", str(count),
        "--lab-dir", str(lab_dir(settings)), "--owner-pid", str(os.getpid()),
        "--enroll", settings.base_url,
        "--boot-url", f"{settings.base_url}/boot/boot.ipxe", "--driver", driver, "--json",
        *(["--netns"] if netns else []),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        preexec_fn=children.die_with_parent(),
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise SystemExit(f"the lab did not start: {err.decode(errors='replace').strip()}")
    info: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    async with rt.db.session() as s:
        fresh = list((await s.scalars(
            select(Node.uuid).where(Node.provision_state == states.ENROLL,
                                    Node.driver == driver)
        )).all())
    ctx = RequestContext(request_id="req-lab")
    for verb, settled in (("manage", states.MANAGEABLE), ("provide", states.AVAILABLE)):
        for uuid in fresh:
            await node_states.set_provision_state(rt, ctx, uuid, verb, {})
        await _settle(rt, fresh, settled)
    info["created"] = await demo_content.ensure(rt, vms=netns, vm_image=hypervisors > 0)
    if hypervisors:
        info["hypervisors"] = await lab_hypervisors(rt, hypervisors)
    return info


async def lab_hypervisors(rt: Runtime, count: int, timeout: float = 300) -> list[str]:
    """Make ``count`` of the lab's machines hypervisors (those that are already
    count); the names of all of them, once up (their agents report), so that a
    VM flavor has a host at once; after ``timeout`` seconds, said, as they are."""
    async with rt.db.session() as s:
        have = list((await s.scalars(select(Hypervisor.hostname).where(
            Hypervisor.node_uuid.is_not(None)).order_by(Hypervisor.hostname))).all())
        free = list((await s.scalars(select(Node.name).where(
            Node.provision_state == states.AVAILABLE, Node.instance_uuid.is_(None),
            Node.name.is_not(None)).order_by(Node.name))).all())
    wanted = [n for n in free if n][:max(0, count - len(have))]
    if wanted:
        made = await hypervisor_nodes.create_on_nodes(
            rt, service_context("req-lab-hypervisors"), {"nodes": wanted})
        have += [h.hostname for h in made]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with rt.db.session() as s:
            down = list((await s.scalars(select(Hypervisor.hostname).where(
                Hypervisor.hostname.in_(have), Hypervisor.state != hv_states.UP))).all())
        if not down:
            return have
        if loop.time() > deadline:
            log.warning("hypervisor(s) %s not up after %.0f s: see their machines' "
                        "console.log and host-agent.log in the lab", down, timeout)
            return have
        await asyncio.sleep(0.5)


def stop(settings: Settings, netns: bool = False) -> None:
    """Stop the lab's processes; its machines and their state stay on disk.

    A netns lab's switch namespace goes with it, and with that namespace the
    far end of barecloud's own cable; the kernel deletes the near end
    (``bcprov0``) later, in the background: deleted here, it is gone when
    ``serve`` has exited."""
    if lab_dir(settings).exists():
        subprocess.run(
            [sys.executable, "-m", "barecloud.lab", "down", "--lab-dir", str(lab_dir(settings))],
            capture_output=True, timeout=60, check=False,
        )
    if netns:
        lab_netns.run(["ip", "link", "del", PROVISIONING_IFNAME],
                      check=False)  # "Cannot find device": gone already


async def _settle(rt: Runtime, uuids: list[str], state: str, timeout: float = 300) -> None:
    """Wait until every node rests in a stable state (cleaning boots the agent)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        async with rt.db.session() as s:
            found = (await s.scalars(
                select(Node.provision_state).where(Node.uuid.in_(uuids))
            )).all()
        if all(states.is_stable(p) for p in found):
            return
        await asyncio.sleep(0.2)
