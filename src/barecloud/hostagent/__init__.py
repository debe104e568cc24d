"""The host agent: runs on a hypervisor, reports to the service, runs the VMs it is told to.

``python3 -m barecloud.hostagent`` (or ``barecloud host-agent``); the protocol
is docs/design/host-agent-protocol.md.  Standard library only, like the
ramdisk agent (:mod:`barecloud.agent`), whose code it shares.
"""
