"""What a Linux host's network manager does on IPv6 beyond SLAAC: read the router
advertisements' M and O flags, and ask DHCPv6 for an address or for options.

Standard library and :mod:`barecloud.wire.dhcpv6` only; the lab OS
(lab/nsboot.py) runs it in the machine's namespace, on its own NIC:

- :func:`adverts` sends a router solicitation and yields the flags of each
  router advertisement that arrives (from a link-local address with hop
  limit 255: RFC 4861's checks, which the kernel makes too): M
  (*managed*: addresses from DHCPv6) and O (*other*: options from DHCPv6).
  This is the signal NetworkManager (``ipv6.method=auto``) and
  systemd-networkd act on; the kernel's own SLAAC carries on beside it.
- :func:`lease`: SOLICIT, ADVERTISE, REQUEST, REPLY from the link-local
  address to ff02::1:2 port 547, as the MAC's DUID-LL with one IA_NA;
  returns the address and its lifetimes, which the caller configures.
- :func:`information`: INFORMATION-REQUEST, REPLY: the DNS servers.

Retransmission is RFC 8415's shape, simplified: the first timeout 1 s,
doubling to at most 4 s, until the caller's deadline.  The first usable
ADVERTISE is taken (no wait for a better one: a Neutron network has one
DHCP server).  No renewal: the caller sees T1 and the lifetimes.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import socket
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from barecloud.wire import dhcpv6
from barecloud.wire.dhcpv6 import IaAddress, IaNa, Message

ALL_ROUTERS = "ff02::2"
ND_ROUTER_SOLICIT, ND_ROUTER_ADVERT = 133, 134
RA_MANAGED, RA_OTHER = 0x80, 0x40
FIRST_TIMEOUT, MAX_TIMEOUT = 1.0, 4.0


class Dhcp6Error(Exception):
    """The server answered, but refused (a status code other than Success)."""


@dataclass(frozen=True)
class Advert:
    router: str  # the advertisement's link-local source
    managed: bool  # M
    other: bool  # O


@dataclass(frozen=True)
class Lease:
    address: str
    preferred: int  # seconds; dhcpv6.INFINITY: forever
    valid: int
    t1: int
    t2: int
    server: str  # the REPLY's source address
    server_id: bytes  # its DUID
    dns_servers: tuple[str, ...]
    reply: bytes = field(default=b"", repr=False)  # the REPLY as it came

    def to_json(self) -> dict[str, object]:
        return {"address": self.address, "preferred": self.preferred, "valid": self.valid,
                "t1": self.t1, "t2": self.t2, "server": self.server,
                "server_id": self.server_id.hex(), "dns_servers": list(self.dns_servers),
                "reply": self.reply.hex()}


def adverts(interface: str, deadline: float | None) -> Iterator[Advert]:
    """Solicit, then yield each router advertisement on ``interface`` until ``deadline``
    (None: for as long as the caller reads)."""
    ifindex = socket.if_nametoindex(interface)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        with contextlib.suppress(OSError):  # no usable source yet: the periodic RAs come
            sock.sendto(struct.pack("!BBHI", ND_ROUTER_SOLICIT, 0, 0, 0),
                        (ALL_ROUTERS, 0, 0, ifindex))
        while deadline is None or (left := deadline - time.monotonic()) > 0:
            sock.settimeout(None if deadline is None else left)
            try:
                data, ancillary, _flags, source = sock.recvmsg(1500, socket.CMSG_SPACE(4))
            except TimeoutError:
                return
            hops = [int.from_bytes(d[:4], "little") for level, kind, d in ancillary
                    if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT]
            router = str(source[0]).split("%")[0]
            if (len(data) < 16 or data[0] != ND_ROUTER_ADVERT or hops != [255]
                    or not ipaddress.IPv6Address(router).is_link_local):
                continue
            yield Advert(router=router,
                         managed=bool(data[5] & RA_MANAGED), other=bool(data[5] & RA_OTHER))
    finally:
        sock.close()


class _Client:
    """A UDP socket on port 546 of ``interface``, and the MAC's DUID-LL."""

    def __init__(self, interface: str, mac: str) -> None:
        self.ifindex = socket.if_nametoindex(interface)
        self.duid = dhcpv6.duid_ll(mac)
        self.iaid = int.from_bytes(self.duid[-4:], "big")  # the MAC's last four bytes
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
            self.sock.bind(("::", dhcpv6.CLIENT_PORT))
        except OSError:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def exchange(self, msg: Message, kinds: tuple[int, ...],
                 deadline: float) -> Iterator[tuple[Message, str, bytes]]:
        """Send ``msg`` (a fresh transaction id, the elapsed time kept up) and resend
        it until ``deadline``; yield each answer of ``kinds`` to it, with its source and bytes."""
        xid = int.from_bytes(os.urandom(3), "big")
        start = time.monotonic()
        timeout, resend = FIRST_TIMEOUT, start
        while (now := time.monotonic()) < deadline:
            if now >= resend:
                elapsed = int((now - start) * 100)
                packet = dhcpv6.encode(replace(msg, transaction_id=xid, elapsed=elapsed))
                with contextlib.suppress(OSError):  # link-local not ready: next time
                    self.sock.sendto(packet, (dhcpv6.ALL_SERVERS, dhcpv6.SERVER_PORT, 0,
                                              self.ifindex))
                resend, timeout = now + timeout, min(timeout * 2, MAX_TIMEOUT)
            self.sock.settimeout(max(0.01, min(resend, deadline) - time.monotonic()))
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                answer = dhcpv6.decode(data)
            except dhcpv6.Dhcpv6Error:
                continue
            if (answer.transaction_id == xid and answer.type in kinds
                    and answer.client_id == self.duid and answer.server_id is not None):
                yield answer, str(source[0]).split("%")[0], data


ORO = (dhcpv6.OPT_DNS_SERVERS, dhcpv6.OPT_DOMAIN_LIST)


def _refusal(msg: Message) -> str | None:
    """Why a server's message gives no address (None: it gives one)."""
    for status in (msg.status, *(ia.status for ia in msg.ia_na)):
        if status is not None and status.code != dhcpv6.SUCCESS:
            return f"status {status.code} {status.message!r}"
    if not any(a.valid for ia in msg.ia_na for a in ia.addresses):
        return "no address"
    return None


def lease(interface: str, mac: str, timeout: float) -> Lease | None:
    """SOLICIT and REQUEST an address; None when no server answered in ``timeout``.

    Raises Dhcp6Error when servers answered but gave no address (NoAddrsAvail:
    no ``dhcp-host`` for this MAC)."""
    client = _Client(interface, mac)
    try:
        deadline = time.monotonic() + timeout
        ask = Message(dhcpv6.SOLICIT, 0, client_id=client.duid,
                      ia_na=(IaNa(client.iaid),), oro=ORO)
        refused = None
        offer = None
        for answer, _source, _raw in client.exchange(ask, (dhcpv6.ADVERTISE,), deadline):
            refused = _refusal(answer)
            if refused is None:
                offer = answer
                break
        if offer is None:
            if refused is not None:
                raise Dhcp6Error(f"no DHCPv6 address: {refused}")
            return None
        request = Message(dhcpv6.REQUEST, 0, client_id=client.duid, server_id=offer.server_id,
                          ia_na=tuple(IaNa(ia.iaid, addresses=tuple(
                              IaAddress(a.address, 0, 0) for a in ia.addresses))
                              for ia in offer.ia_na if ia.iaid == client.iaid), oro=ORO)
        for reply, source, raw in client.exchange(request, (dhcpv6.REPLY,), deadline):
            refused = _refusal(reply)
            if refused is not None:
                raise Dhcp6Error(f"DHCPv6 server {source} refused the request: {refused}")
            ia = next(ia for ia in reply.ia_na if any(a.valid for a in ia.addresses))
            got = next(a for a in ia.addresses if a.valid)
            assert reply.server_id is not None
            return Lease(got.address, got.preferred, got.valid, ia.t1, ia.t2, source,
                         reply.server_id, reply.dns_servers, raw)
        return None
    finally:
        client.close()


def information(interface: str, mac: str, timeout: float) -> tuple[str, ...] | None:
    """INFORMATION-REQUEST: the DNS servers DHCPv6 gives (None: no answer)."""
    client = _Client(interface, mac)
    try:
        ask = Message(dhcpv6.INFORMATION_REQUEST, 0, client_id=client.duid, oro=ORO)
        for reply, _source, _raw in client.exchange(ask, (dhcpv6.REPLY,),
                                              time.monotonic() + timeout):
            return reply.dns_servers
        return None
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    """``lease``, ``info`` or ``advert`` (the first router advertisement's flags) as
    JSON on stdout; exit 2: no answer in time, or refused."""
    parser = argparse.ArgumentParser(prog="python -m barecloud.lab.dhcp6")
    parser.add_argument("command", choices=("lease", "info", "advert"))
    parser.add_argument("--interface", required=True)
    parser.add_argument("--mac", required=True)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.command == "advert":
        ad = next(adverts(args.interface, time.monotonic() + args.timeout), None)
        print(json.dumps(None if ad is None else
                         {"router": ad.router, "managed": ad.managed, "other": ad.other}))
        return 0 if ad is not None else 2
    try:
        if args.command == "lease":
            got = lease(args.interface, args.mac, args.timeout)
            print(json.dumps(got.to_json() if got else None))
            return 0 if got else 2
        dns = information(args.interface, args.mac, args.timeout)
    except Dhcp6Error as exc:
        print(f"dhcp6: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(None if dns is None else {"dns_servers": list(dns)}))
    return 0 if dns is not None else 2


if __name__ == "__main__":
    sys.exit(main())
