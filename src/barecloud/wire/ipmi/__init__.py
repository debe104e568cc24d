"""IPMI 2.0 over RMCP+ ("lanplus"): the protocol, an asyncio client and lab BMCs.

Both ends (the client for the drivers, the BMCs for the lab) build and parse
packets with the same modules, so the two can only disagree with the
specification, not with each other; ``ipmitool`` and pyghmi in the tests
keep us honest about the specification.

Without I/O (IPMI v2.0 rev. 1.1 section numbers in brackets):

- :mod:`.errors` — RMCP+ status and completion codes, the error hierarchy;
- :mod:`.crypto` — cipher suites 3 and 17, RAKP key derivation, AES-CBC-128
  [13.28-13.32, 22.15.2];
- :mod:`.session` — privilege levels, Open Session and RAKP 1-4, the
  sequence window [13.17-13.22, 13.29];
- :mod:`.framing` — RMCP/ASF ping, v1.5 pre-session and RMCP+ packets,
  integrity trailer, IPMI LAN messages with their checksums [13.2-13.8];
- :mod:`.commands` — Get Device ID, channel auth capabilities and cipher
  suites, chassis status and control, system boot options [20, 22, 28];
- :mod:`.sol` — Serial-over-LAN packets, payload commands, SOL
  parameters, the serial port a BMC serves [15, 24, 26].

On asyncio:

- :mod:`.client` — one RMCP+ session to one BMC;
- :mod:`.pool` — sessions kept open (and alive) across many BMCs;
- :mod:`.server` — many BMCs on one event loop; :mod:`.handlers` — what
  they answer; :mod:`.sol_bmc` — their Serial-over-LAN end;
- :mod:`.sol_client` — a console's Serial-over-LAN stream in a session.

Not covered: IPMI v1.5 sessions (MD5/password auth), OEM payloads, cipher
suites other than 3 and 17, bridging (docs/design/serial-consoles.md).
"""
