"""Hardware-management wire protocols, spoken natively on asyncio.

This package knows bytes and sockets, nothing of barecloud: it imports no
other barecloud module, so drivers (clients) and the lab (servers) can both
use it without breaking the layering.

- :mod:`barecloud.wire.ipmi` — IPMI 2.0 / RMCP+ ("lanplus"): the protocol
  without I/O, an asyncio client and session pool, and many asyncio BMCs in
  one event loop.
- :mod:`barecloud.wire.dhcpv6` — DHCPv6 messages (RFC 8415), without I/O,
  for the lab OS's client (lab/dhcp6.py).
"""
