"""``python3 -m barecloud.agent``: arguments, logging, and the agent's run.

Log lines go to stderr, which the machine's serial console shows.  The
chain server (agent/chain.py) starts with the agent, so its address can go
out with the first heartbeat.
"""

from __future__ import annotations

import argparse
import logging
import sys

from barecloud import __version__
from barecloud.agent import cmdline, hardware
from barecloud.agent.chain import ChainServer
from barecloud.agent.client import ApiError, Client
from barecloud.agent.loop import POLL_WAIT, Agent

log = logging.getLogger("barecloud.agent")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="barecloud-agent",
        description="The barecloud deploy agent: finds its node by MAC, then runs the "
                    "commands the service gives it (write an image, a config drive, "
                    "erase, power off).")
    p.add_argument("--cmdline", metavar="ARGS",
                   help="kernel arguments to read (barecloud.api=, barecloud.token=, "
                        "BOOTIF=) instead of /proc/cmdline")
    p.add_argument("--hardware", metavar="FILE",
                   help="JSON file describing the machine, instead of /sys and /proc")
    p.add_argument("--api", metavar="URL", help="the service's base URL (barecloud.api=)")
    p.add_argument("--token", help="the agent token (barecloud.token=)")
    p.add_argument("--heartbeat-interval", type=float, metavar="SECONDS",
                   help="seconds between heartbeats (default: a third of the service's "
                        "heartbeat_timeout)")
    p.add_argument("--poll-wait", type=float, default=POLL_WAIT, metavar="SECONDS",
                   help=f"long-poll wait for a command (default {POLL_WAIT:g})")
    p.add_argument("--version", action="version", version=f"barecloud-agent {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s barecloud-agent %(levelname)s %(message)s")
    line = args.cmdline
    if line is None:
        try:
            with open("/proc/cmdline", encoding="utf-8") as f:
                line = f.read()
        except OSError as exc:
            log.warning("cannot read /proc/cmdline: %s", exc)
            line = ""
    kernel = cmdline.parse(line)
    api = args.api or kernel.api
    if not api:
        log.error("no API URL: give barecloud.api= on the kernel command line, or --api")
        return 2
    try:
        machine = hardware.load(args.hardware) if args.hardware else hardware.discover()
    except hardware.HardwareError as exc:
        log.error("%s", exc)
        return 2
    macs = list(dict.fromkeys(
        m for m in [kernel.bootif, *(i.mac_address for i in machine.interfaces)] if m))
    if not macs:
        log.error("no MAC address to look the node up by (no BOOTIF= and no NIC found)")
        return 2
    client = Client(api, args.token or kernel.token)
    try:
        chain: ChainServer | None = ChainServer(port=kernel.chain_port or 0)
    except OSError as exc:  # the machine still deploys, from the image server
        log.warning("cannot start the chain server on port %s: %s", kernel.chain_port, exc)
        chain = None
    agent = Agent(client, machine, macs, boot_mac=kernel.bootif or macs[0],
                  heartbeat_interval=args.heartbeat_interval, poll_wait=args.poll_wait,
                  chain=chain)
    try:
        return agent.run()
    except ApiError as exc:
        log.error("%s", exc)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if chain is not None:
            chain.close()
