"""Reachability probes from inside a network namespace, for the tests that build them.

An ICMP echo sent by a small Python program run in the namespace (a raw
socket: no ``ping`` binary needed, and the answer's source is checked).
"""

from __future__ import annotations

import subprocess
import sys

PING = """
import os, select, socket, struct, sys, time
addr, timeout = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xFFFF
def checksum(b):
    b += b"\\0" * (len(b) % 2)
    total = sum(struct.unpack(f"!{len(b) // 2}H", b))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
body = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"barecloud-test"
body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
s.sendto(body, (addr, 0))
deadline = time.monotonic() + timeout
while (left := deadline - time.monotonic()) > 0:
    if not select.select([s], [], [], left)[0]:
        break
    data, src = s.recvfrom(2048)
    ihl = (data[0] & 15) * 4
    kind, _, _, got, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
    if kind == 0 and got == ident and src[0] == addr:
        sys.exit(0)
sys.exit(1)
"""


def reaches(ns: str, address: str, timeout: float = 1.0) -> bool:
    """Whether ``address`` answers an ICMP echo sent from namespace ``ns``."""
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", PING, address,
                           str(timeout)], capture_output=True, check=False,
                          timeout=timeout + 20).returncode == 0


def connected(ns: str, address: str) -> bool:
    """``reaches`` with a few tries: a veth whose peer just came up passes no packet
    until the kernel's link watcher has run (up to a second later)."""
    return any(reaches(ns, address) for _ in range(4))
