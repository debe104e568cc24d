"""What a machine's network boot ROM does on the wire: DHCP over a raw socket, TFTP.

Standard library only (the lab imports nothing of the service), so tests
and the namespace lab can act as a PXE ROM or as iPXE against a real DHCP
server.  DHCP runs on an ``AF_PACKET`` socket because a booting machine has
no address yet: we build the Ethernet, IPv4 and UDP headers ourselves and
may use any MAC on the interface.  Needs root (CAP_NET_RAW).

    python -m barecloud.lab.netboot dhcp --interface IF --mac MAC [--ipxe]
        [--arch N] [--timeout S] [--discover-only]
    python -m barecloud.lab.netboot tftp --server IP --file NAME [--out PATH]
        [--blksize N] [--timeout S]

``dhcp`` prints the lease as JSON (``{"ip", "server", "next_server",
"filename", "options"}``) and exits 0, or prints ``null`` and exits 2 when
no server answered in time.  ``tftp`` writes the file (to ``--out`` or
stdout) and exits 2 on a TFTP error or timeout.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ETH_P_IP = 0x0800
BROADCAST_MAC = b"\xff" * 6
MAGIC_COOKIE = b"\x63\x82\x53\x63"

DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK = 1, 2, 3, 4, 5, 6
OPT_REQUESTED_IP, OPT_MESSAGE_TYPE, OPT_SERVER_ID = 50, 53, 54
OPT_PARAMS, OPT_VENDOR_CLASS, OPT_BOOTFILE = 55, 60, 67
OPT_USER_CLASS, OPT_CLIENT_ARCH, OPT_NDI, OPT_UUID, OPT_IPXE = 77, 93, 94, 97, 175


class NetbootError(Exception):
    """A boot ROM would give up here (no answer, refused, TFTP error)."""


@dataclass(frozen=True)
class Lease:
    """What the DHCP server told the machine (an OFFER, or the ACK after REQUEST)."""

    ip: str
    server: str  # option 54, the server identifier
    next_server: str  # siaddr: where TFTP files come from
    filename: str  # option 67, else the BOOTP file field
    options: dict[int, bytes] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, object]:
        return {"ip": self.ip, "server": self.server, "next_server": self.next_server,
                "filename": self.filename,
                "options": {str(k): v.hex() for k, v in sorted(self.options.items())}}


# --- checksums and headers -------------------------------------------------

def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(sum(struct.unpack(f"!{len(data) // 2}H", data)))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _udp_checksum(src: bytes, dst: bytes, segment: bytes) -> int:
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_UDP, len(segment))
    return _checksum(pseudo + segment) or 0xFFFF


def _frame(mac: bytes, payload: bytes) -> bytes:
    """Ethernet + IPv4 + UDP (68 -> 67) from 0.0.0.0 to 255.255.255.255."""
    src, dst = bytes(4), b"\xff" * 4
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    udp = udp[:6] + struct.pack("!H", _udp_checksum(src, dst, udp)) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0x10, 20 + len(udp), 0, 0, 64,
                     socket.IPPROTO_UDP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return BROADCAST_MAC + mac + struct.pack("!H", ETH_P_IP) + ip + udp


def _udp_payload(frame: bytes) -> tuple[bytes, bool] | None:
    """The payload of a UDP datagram to port 68, and whether its checksum is right."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_IP):
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != socket.IPPROTO_UDP or len(ip) < ihl + 8:
        return None
    total = struct.unpack("!H", ip[2:4])[0]
    udp = ip[ihl:total]
    _sport, dport, length, csum = struct.unpack("!HHHH", udp[:8])
    if dport != 68 or length < 8 or length > len(udp):
        return None
    udp = udp[:length]
    ok = csum == 0 or _checksum(
        ip[12:16] + ip[16:20] + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length) + udp
    ) == 0
    return udp[8:], ok


# --- DHCP messages -----------------------------------------------------------

def parse_mac(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def _option(code: int, value: bytes) -> bytes:
    return bytes((code, len(value))) + value


def _client_options(mac: bytes, ipxe: bool, arch: int | None) -> bytes:
    """What a PXE ROM sends (RFC 4578); iPXE adds its option 175 and user class."""
    out = b""
    if arch is not None:
        out += _option(OPT_VENDOR_CLASS, f"PXEClient:Arch:{arch:05d}:UNDI:002001".encode())
        out += _option(OPT_CLIENT_ARCH, struct.pack("!H", arch))
        out += _option(OPT_NDI, b"\x01\x02\x01")
        out += _option(OPT_UUID, b"\x00" + bytes(10) + mac)
    if ipxe:
        # Encapsulated iPXE settings: 0x13 "bus id"-style flags are enough for
        # servers, which only test the option's presence.
        out += _option(OPT_USER_CLASS, b"iPXE")
        out += _option(OPT_IPXE, _option(0x13, b"\x01") + _option(0x19, b"\x01"))
    return out + _option(OPT_PARAMS, bytes((1, 3, 6, 12, 15, 17, 43, 60, 66, 67, 175)))


def _bootp(xid: int, mac: bytes, options: bytes) -> bytes:
    # op=1 (request), htype=1, hlen=6, flags=0x8000: broadcast the answer,
    # since the machine cannot receive unicast before it has an address.
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                       bytes(4), bytes(4), bytes(4), bytes(4), mac, b"", b"")
    return head + MAGIC_COOKIE + options + b"\xff"


def _parse_reply(payload: bytes, xid: int, mac: bytes) -> tuple[int, Lease] | None:
    if len(payload) < 240 or payload[0] != 2 or payload[236:240] != MAGIC_COOKIE:
        return None
    if struct.unpack("!I", payload[4:8])[0] != xid or payload[28:34] != mac:
        return None
    options: dict[int, bytes] = {}
    i = 240
    while i < len(payload) and payload[i] != 0xFF:
        if payload[i] == 0:
            i += 1
            continue
        if i + 1 >= len(payload):
            break
        code, length = payload[i], payload[i + 1]
        options[code] = options.get(code, b"") + payload[i + 2:i + 2 + length]
        i += 2 + length
    kind = options.get(OPT_MESSAGE_TYPE, b"\0")[0]
    filename = (options.get(OPT_BOOTFILE) or payload[108:236]).split(b"\0", 1)[0]
    server = options.get(OPT_SERVER_ID, payload[20:24])
    lease = Lease(ip=str(ipaddress.IPv4Address(payload[16:20])),
                  server=str(ipaddress.IPv4Address(server[:4])),
                  next_server=str(ipaddress.IPv4Address(payload[20:24])),
                  filename=filename.decode(errors="replace"), options=options)
    return kind, lease


class _Client:
    def __init__(self, interface: str, mac: str, ipxe: bool, arch: int | None) -> None:
        self.mac = parse_mac(mac)
        self.xid = int.from_bytes(os.urandom(4), "big")
        self.extra = _client_options(self.mac, ipxe, arch)
        self.bad_checksums = 0
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.sock.bind((interface, ETH_P_IP))

    def close(self) -> None:
        self.sock.close()

    def send(self, kind: int, options: bytes = b"") -> None:
        body = _option(OPT_MESSAGE_TYPE, bytes((kind,))) + options + self.extra
        self.sock.send(_frame(self.mac, _bootp(self.xid, self.mac, body)))

    def receive(self, kinds: tuple[int, ...], deadline: float) -> tuple[int, Lease] | None:
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                frame = self.sock.recv(65535)
            except TimeoutError:
                return None
            found = _udp_payload(frame)
            if found is None:
                continue
            payload, ok = found
            if not ok:
                self.bad_checksums += 1  # a real ROM drops these too
                continue
            reply = _parse_reply(payload, self.xid, self.mac)
            if reply is not None and reply[0] in kinds:
                return reply
        return None


def dhcp(interface: str, mac: str, *, ipxe: bool = False, arch: int | None = 0,
         timeout: float = 3.0, request: bool = True) -> Lease | None:
    """Run DISCOVER/OFFER (and REQUEST/ACK when ``request``) as ``mac`` on ``interface``.

    ``ipxe`` adds option 175 so the server takes us for iPXE; ``arch`` is the
    client architecture of option 93 (0 BIOS, 7 and 9 x86-64 UEFI; None sends
    no PXE options at all).  Returns the ACK (or the OFFER), None if no server
    answered within ``timeout`` seconds.  Raises NetbootError on a NAK, or
    when answers came only with bad UDP checksums (transmit checksum offload
    left on a veth: ``ethtool -K <dev> tx off``).
    """
    client = _Client(interface, mac, ipxe, arch)
    try:
        deadline = time.monotonic() + timeout
        offer = None
        while offer is None and time.monotonic() < deadline:
            client.send(DISCOVER)  # resend every second, as ROMs do
            offer = client.receive((OFFER,), min(deadline, time.monotonic() + 1.0))
        if offer is None:
            if client.bad_checksums:
                raise NetbootError(
                    f"{client.bad_checksums} DHCP answer(s) on {interface} had bad UDP "
                    "checksums (transmit checksum offload on the sender's veth? "
                    "ethtool -K <dev> tx off)"
                )
            return None
        lease = offer[1]
        if not request:
            return lease
        client.send(REQUEST, _option(OPT_REQUESTED_IP, ipaddress.IPv4Address(lease.ip).packed)
                    + _option(OPT_SERVER_ID, ipaddress.IPv4Address(lease.server).packed))
        ack = client.receive((ACK, NAK), deadline)
        if ack is None:
            return None
        if ack[0] == NAK:
            raise NetbootError(f"DHCP server {lease.server} refused {lease.ip} (NAK)")
        return ack[1]
    finally:
        client.close()


# --- TFTP (RFC 1350, blksize of RFC 2348) -------------------------------------

TFTP_RRQ, TFTP_DATA, TFTP_ACK, TFTP_ERROR, TFTP_OACK = 1, 3, 4, 5, 6


def tftp_get(server: str, filename: str, *, port: int = 69, blksize: int | None = 1468,
             timeout: float = 2.0, retries: int = 5) -> bytes:
    """Read ``filename`` from a TFTP server in octet mode and return its bytes."""
    request = struct.pack("!H", TFTP_RRQ) + filename.encode() + b"\0octet\0"
    if blksize:
        request += b"blksize\0" + str(blksize).encode() + b"\0"
    size = 512
    out = bytearray()
    expected = 1
    last = request
    peer: tuple[str, int] | None = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, (server, port))
        tries = 0
        while True:
            try:
                packet, addr = sock.recvfrom(65536)
            except TimeoutError:
                tries += 1
                if tries > retries:
                    raise NetbootError(f"TFTP {server}: no answer for {filename!r}") from None
                sock.sendto(last, peer or (server, port))
                continue
            if peer is None:
                peer = addr  # the server's transfer ID (its new port)
            elif addr != peer:
                continue
            tries = 0
            opcode = struct.unpack("!H", packet[:2])[0]
            if opcode == TFTP_ERROR:
                code = struct.unpack("!H", packet[2:4])[0]
                text = packet[4:].split(b"\0", 1)[0].decode(errors="replace")
                raise NetbootError(f"TFTP {server}: {filename!r}: error {code}: {text}")
            if opcode == TFTP_OACK and expected == 1 and not out:
                fields = packet[2:].split(b"\0")
                opts = dict(zip(fields[0::2], fields[1::2], strict=False))
                size = int(opts.get(b"blksize", b"512"))
                last = struct.pack("!HH", TFTP_ACK, 0)
            elif opcode == TFTP_DATA:
                block, data = struct.unpack("!H", packet[2:4])[0], packet[4:]
                if block == expected:
                    out += data
                    expected = (expected + 1) & 0xFFFF
                    last = struct.pack("!HH", TFTP_ACK, block)
                    if len(data) < size:  # a short block ends the transfer
                        sock.sendto(last, peer)
                        return bytes(out)
                elif block != (expected - 1) & 0xFFFF:
                    continue  # neither the next block nor a resent last one
            else:
                continue
            sock.sendto(last, peer)


# --- command line ------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m barecloud.lab.netboot")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dhcp", help="get a lease as a PXE ROM or iPXE would")
    d.add_argument("--interface", required=True)
    d.add_argument("--mac", required=True)
    d.add_argument("--ipxe", action="store_true", help="send option 175, as iPXE does")
    d.add_argument("--arch", type=int, default=0, help="option 93: 0 BIOS, 7/9 UEFI x86-64")
    d.add_argument("--timeout", type=float, default=3.0)
    d.add_argument("--discover-only", action="store_true", help="stop at the OFFER")
    t = sub.add_parser("tftp", help="read a file over TFTP")
    t.add_argument("--server", required=True)
    t.add_argument("--file", required=True)
    t.add_argument("--out", type=Path)
    t.add_argument("--port", type=int, default=69)
    t.add_argument("--blksize", type=int, default=1468, help="0: no option, 512-byte blocks")
    t.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    try:
        if args.command == "dhcp":
            lease = dhcp(args.interface, args.mac, ipxe=args.ipxe, arch=args.arch,
                         timeout=args.timeout, request=not args.discover_only)
            print(json.dumps(lease.to_json() if lease else None))
            return 0 if lease else 2
        data = tftp_get(args.server, args.file, port=args.port, blksize=args.blksize or None,
                        timeout=args.timeout)
    except NetbootError as exc:
        print(f"netboot: {exc}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
