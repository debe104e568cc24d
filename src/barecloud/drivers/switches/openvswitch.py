"""The ``openvswitch`` switch: an Open vSwitch bridge whose access ports carry segments as VLANs.

A top-of-rack switch with per-port access VLANs, played by Open vSwitch
(the netns lab runs it with the userspace datapath, lab/ovs.py).  Binding
a port is one ovsdb transaction, ``add-port`` (if missing) plus ``set port
tag=T vlan_mode=access``: a port moves from one VLAN to the next at once,
never on two.  Unbinding takes the port off the bridge (``del-port``), so
an unbound machine reaches nothing, as on the ``linux-bridge`` switch.

Tags: a ``vlan`` segment is carried on its own id; ``flat`` and ``vxlan``
segments on a *local* VLAN claimed from ``local_vlans`` (as Neutron's OVS
agent maps networks to local VLANs).  A claim is a key of the bridge's
``external_ids`` (``barecloud-tag-T = <segment key>``) added with ovsdb's
insert mutation, which never overwrites a key: two processes claiming
one tag for two segments cannot both win, and the loser takes the next.
Claims are kept (a tag never changes segment while a port might still carry
it); the range bounds how many flat and vxlan segments one switch ever
carries.  VXLAN tunnels to hypervisors are not made (no VtepFlood).

Flow export (:class:`~barecloud.drivers.switches.base.FlowExport`): sFlow v5
to the target barecloud's collector names, sampling 1 in ``sflow_sampling``
packets; the collector maps sFlow's ifIndex to ports with
:meth:`flow_ports` (the Interface table's ``ifindex``).

Host plugs (barecloud's DHCP and boot servers on a segment) are veth pairs
whose far end, in the switch's namespace, becomes an access port: the
``linux-bridge`` driver's plumbing with this driver's bind.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from barecloud.drivers.settings import Setting
from barecloud.drivers.switches.base import PortCounters, Segment
from barecloud.drivers.switches.linux_bridge import LinuxBridgeSwitch
from barecloud.errors import InvalidParameter, PermanentDriverError, RetryableDriverError

SEGMENT_KEY = "barecloud-segment"
NETWORK_KEY = "barecloud-network"
TAG_CLAIM = "barecloud-tag-"
# Interfaces of the switch namespace that are never ports.
_NOT_PORTS = frozenset({"lo", "ovs-netdev"})


def _ovs_map(value: Any) -> dict[str, str]:
    """An ovsdb ``["map", [[k, v], ...]]`` JSON value as a dict."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "map":
        return {str(k): str(v) for k, v in value[1]}
    return {}


def _ovs_scalar(value: Any) -> Any:
    """An ovsdb optional value (``["set", []]`` when empty) as a value or None."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return value[1][0] if value[1] else None
    return value


class OpenVSwitchSwitch(LinuxBridgeSwitch):
    driver_name: ClassVar[str] = "openvswitch"
    # The nftables bridge-family hooks linux-bridge filters with never see Open vSwitch's
    # datapath: the port filter it inherits would load tables that match nothing.  So it
    # cannot filter, and a port with port security is refused at VIF attach
    # (docs/design/security-groups.md; OpenFlow security groups are not written yet).
    filters_ports: ClassVar[bool] = False
    cannot_filter: ClassVar[str] = (
        "the openvswitch switch driver cannot filter ports (no OpenFlow security groups)")
    options: ClassVar[tuple[Setting, ...]] = (
        Setting("netns", "The network namespace the switch's ports (and ovs-vswitchd) "
                "are in.", required=True),
        Setting("db", "The switch's ovsdb, e.g. unix:/path/db.sock.", required=True),
        Setting("bridge", "The bridge whose ports these are.", default="br0"),
        Setting("ports", "The interfaces that are ports (default: every interface of "
                "the namespace but the bridge's own).", type="list", default=[]),
        Setting("local_vlans", "first:last VLAN ids that carry flat and vxlan segments.",
                default="3000:4094"),
        Setting("sflow_sampling", "sFlow: sample 1 packet in N (0: no flow export).",
                type="integer", default=1000),
        Setting("sflow_polling", "sFlow: seconds between counter samples.",
                type="integer", default=20),
        Setting("sflow_agent", "sFlow: the interface (or address) whose address the "
                "datagrams name as their agent (default: the route to the collector's)."),
        Setting("timeout", "Seconds one ovs-vsctl/ip command may take.", type="number",
                default=10.0),
    )

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        super().__init__(name, {"netns": options["netns"], "ports": options.get("ports"),
                                "timeout": options.get("timeout")})
        self.db: str = options["db"]
        self.bridge: str = options.get("bridge") or "br0"
        try:
            first, last = (int(x) for x in str(options.get("local_vlans")
                                               or "3000:4094").split(":"))
        except ValueError:
            raise InvalidParameter(f"Switch {name!r}: local_vlans must be first:last.") from None
        if not 1 <= first <= last <= 4094:
            raise InvalidParameter(f"Switch {name!r}: local_vlans must lie within 1:4094.")
        self.local_vlans = range(first, last + 1)
        self.sflow_sampling: int = int(options.get("sflow_sampling") or 0)
        self.sflow_polling: int = int(options.get("sflow_polling") or 20)
        self.sflow_agent: str = options.get("sflow_agent") or ""
        if self.sflow_sampling < 0:
            raise InvalidParameter(f"Switch {name!r}: sflow_sampling must be 0 or more.")
        self.exports_flows = self.sflow_sampling > 0

    # --- ovsdb -----------------------------------------------------------------------

    async def _vsctl(self, *args: str, ok: tuple[str, ...] = ()) -> str:
        try:
            return await self._run("ovs-vsctl", f"--db={self.db}",
                                   f"--timeout={max(1, int(self.timeout))}", *args, ok=ok)
        except PermanentDriverError as exc:
            if "database connection failed" in exc.message or "No such file" in exc.message:
                raise RetryableDriverError(
                    f"Switch {self.name}: its ovsdb {self.db} does not answer", 5.0) from None
            raise

    async def _rows(self, table: str, *columns: str) -> list[dict[str, Any]]:
        out = await self._vsctl("--format=json", f"--columns={','.join(columns)}",
                                "list", table)
        data = json.loads(out or '{"headings": [], "data": []}')
        return [dict(zip(data["headings"], row, strict=True)) for row in data["data"]]

    async def _claims(self) -> dict[int, str]:
        """Local VLAN → segment key, as the bridge's external_ids record them."""
        rows = await self._rows("bridge", "name", "external_ids")
        row = next((r for r in rows if r["name"] == self.bridge), None)
        if row is None:
            raise PermanentDriverError(f"Switch {self.name}: no bridge {self.bridge!r}")
        claims = _ovs_map(row["external_ids"])
        return {int(k[len(TAG_CLAIM):]): v for k, v in claims.items()
                if k.startswith(TAG_CLAIM) and k[len(TAG_CLAIM):].isdigit()}

    async def _tag(self, segment: Segment) -> int:
        """The VLAN that carries ``segment`` on this switch (claimed if need be)."""
        if segment.network_type == "vlan":
            tag = segment.segmentation_id
            if tag is None or not 1 <= tag <= 4094:
                raise PermanentDriverError(
                    f"Switch {self.name}: VLAN {tag} is not between 1 and 4094")
            if tag in self.local_vlans:
                raise PermanentDriverError(
                    f"Switch {self.name}: VLAN {tag} lies in local_vlans "
                    f"({self.local_vlans.start}:{self.local_vlans.stop - 1})")
            return tag
        if segment.network_type == "vxlan" and segment.segmentation_id is None:
            raise PermanentDriverError(
                f"Switch {self.name}: a vxlan segment needs a segmentation id")
        key = segment.key
        while True:
            claims = await self._claims()
            mine = sorted(t for t, k in claims.items() if k == key)
            if mine:
                return mine[0]
            free = next((t for t in self.local_vlans if t not in claims), None)
            if free is None:
                raise PermanentDriverError(
                    f"Switch {self.name}: every local VLAN is taken ({len(self.local_vlans)})")
            # Inserting a key that exists changes nothing: the next read says who won.
            await self._vsctl("add", "bridge", self.bridge, "external_ids",
                              f"{TAG_CLAIM}{free}={key}")

    # --- SwitchDriver ------------------------------------------------------------------

    async def _bind(self, port: str, segment: Segment) -> None:
        self._check_netns()
        if port not in await self._some(port):
            raise PermanentDriverError(f"Switch {self.name}: no port {port!r}")
        tag = await self._tag(segment)
        await self._vsctl(
            "--may-exist", "add-port", self.bridge, port, "--",
            "set", "port", port, f"tag={tag}", "vlan_mode=access",
            f"external_ids:{SEGMENT_KEY}={segment.key}",
            f"external_ids:{NETWORK_KEY}={segment.network_id or '-'}")
        await self._ip("link", "set", port, "up")

    async def unbind(self, port: str) -> None:
        self._check_port(port)
        async with self._lock:
            self._check_netns()
            if port not in await self._some(port):
                raise PermanentDriverError(f"Switch {self.name}: no port {port!r}")
            await self._vsctl("--if-exists", "del-port", self.bridge, port)

    def _ports_of(self, links: list[dict[str, Any]]) -> list[str]:
        names = []
        for ln in links:
            name = str(ln.get("ifname"))
            if self.ports and name not in self.ports:
                continue
            if not self.ports and (name in _NOT_PORTS or name == self.bridge):
                continue
            names.append(name)
        return names

    async def bindings(self) -> dict[str, Segment | None]:
        async with self._lock:
            self._check_netns()
            links = await self._links()
            rows = await self._rows("port", "name", "tag", "external_ids")
        on = {str(r["name"]): r for r in rows}
        out: dict[str, Segment | None] = {}
        for name in self._ports_of(links):
            row = on.get(name)
            ids = _ovs_map(row["external_ids"]) if row else {}
            segment = self._segment_of(ids.get(SEGMENT_KEY, "")) if row else None
            if segment is not None:  # with the network the bind named
                network = ids.get(NETWORK_KEY, "")
                segment = Segment(segment.network_type, segment.segmentation_id,
                                  "" if network == "-" else network)
            out[name] = segment
        return out

    async def counters(self) -> dict[str, PortCounters]:
        async with self._lock:
            self._check_netns()
            links = await self._links()
            rows = await self._rows("interface", "name", "statistics")
        stats = {str(r["name"]): _ovs_map(r["statistics"]) for r in rows}
        out: dict[str, PortCounters] = {}
        for name in self._ports_of(links):
            s = stats.get(name, {})
            out[name] = PortCounters(
                rx_bytes=int(s.get("rx_bytes", 0)), tx_bytes=int(s.get("tx_bytes", 0)),
                rx_packets=int(s.get("rx_packets", 0)), tx_packets=int(s.get("tx_packets", 0)))
        return out

    async def flood(self, segment: Segment, addresses: Any) -> bool:
        """Not a VTEP: vxlan segments stay on this switch's local VLANs."""
        return False

    async def unplug(self, ifname: str, netns: str | None) -> None:
        far = self.port_of(ifname, netns)
        async with self._lock:
            await self._vsctl("--if-exists", "del-port", self.bridge, far)
        await super().unplug(ifname, netns)

    # --- FlowExport ----------------------------------------------------------------------

    async def export_flows(self, target: str) -> bool:
        """Send sFlow to ``target`` ("host:port"); False when flow export is off."""
        if not self.sflow_sampling:
            return False
        agent = (f'agent="{self.sflow_agent}"',) if self.sflow_agent else ()
        async with self._lock:
            await self._vsctl(
                "--", "--id=@s", "create", "sflow", f'targets="{target}"', *agent,
                f"sampling={self.sflow_sampling}", f"polling={self.sflow_polling}",
                "header=128", "--", "set", "bridge", self.bridge, "sflow=@s")
        return True

    async def stop_flows(self) -> None:
        async with self._lock:
            await self._vsctl("clear", "bridge", self.bridge, "sflow")

    async def flow_ports(self) -> dict[int, str]:
        async with self._lock:
            rows = await self._rows("interface", "name", "ifindex")
        out: dict[int, str] = {}
        for r in rows:
            index = _ovs_scalar(r["ifindex"])
            if isinstance(index, int) and index > 0 and r["name"] != self.bridge:
                out[index] = str(r["name"])
        return out
