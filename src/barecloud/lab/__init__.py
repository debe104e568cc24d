"""The lab, loopback mode: virtual machines whose BMCs speak the real protocols.

Each machine has a UUID, a hardware profile (CPUs, memory, CPU
architecture, a disk that is a sparse file, one or two NICs with MACs
``52:54:00:1n:hh:ll``), a power state and a boot override, a serial
console log, and two BMCs that change the same state: an IPMI 2.0
(lanplus) BMC on its own UDP port, and a system in its shard's Redfish
service.  Everything listens on 127.0.0.1 and needs no root.  Faults
(``unreachable``, ``bad-credentials``, ``slow``, ``ignore-power``) are set
at run time and kept.  Machines are sharded over processes (one event
loop each: its BMCs' UDP sockets and one Redfish HTTP port), so 10,000
machines fit one host.

The lab is hardware: it imports nothing of the service (only
:mod:`barecloud.wire`, a protocol library) and talks to barecloud only
over the Bare Metal API, to enroll machines.

Use it from a shell or, from the service, through a subprocess only::

    python -m barecloud.lab up --nodes N --lab-dir D [--shards K] [--json]
        [--netns [--rate 200mbit]] [--enroll URL --driver ipmi|redfish|fake-hardware]
    python -m barecloud.lab down --lab-dir D [--purge]
    python -m barecloud.lab status --lab-dir D [--machines] [--json]
    python -m barecloud.lab fault MACHINE KIND [--off] [--seconds S] --lab-dir D
    python -m barecloud.lab console MACHINE --lab-dir D [--follow]
    python -m barecloud.lab exec MACHINE|switch --lab-dir D -- CMD...   (netns lab)
    python -m barecloud.lab enroll URL --driver ipmi|redfish --lab-dir D

(``barecloud lab ...`` is the same.)  ``up`` returns once every BMC
answers, leaving the shard processes running in their own session; it is
idempotent and grows a lab to ``--nodes``.  ``up --json`` prints
``{"lab_dir", "machines", "shards": [{"id", "pid", "redfish_url",
"machines"}]}`` on stdout.  ``D/lab.json`` always describes the running
lab (layout.py); ``down`` stops it by the PIDs there.

``--netns`` (root) gives each machine its own network namespace cabled to
a lab switch namespace, real DHCP and HTTP boot over it (netns.py,
nsboot.py; docs/design/lab.md); the BMCs stay on loopback.

Modules: machine.py (a machine and its behaviour), layout.py (the lab
directory), ipmi_bmc.py and redfish.py (the two BMCs), shard.py (one lab
process), supervisor.py (up/down/status/fault), enroll.py (into
barecloud), commands.py (the CLI), firmware.py (what a machine boots),
netns.py (namespaces and cables), nsboot.py (a netns machine's boot),
netboot.py (DHCP and TFTP on the wire).
"""
