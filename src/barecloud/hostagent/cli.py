"""``python3 -m barecloud.hostagent`` (and ``barecloud host-agent``): one host, or a fleet.

One host::

    python3 -m barecloud.hostagent --url http://HOST:PORT --credential-file FILE \\
        --state-dir DIR [--driver qemu|fake] [--netns NS] [-v]

The credential (``hv.<uuid>.<secret>``) comes from ``--credential-file`` or
``BARECLOUD_HOST_CREDENTIAL``; a file others may read is refused, as ssh
refuses such a key.  Many fake hosts in one process, for the benchmark (one
credential a line, each host in ``DIR/<hypervisor uuid>``, the images shared
in ``DIR/images``)::

    python3 -m barecloud.hostagent fleet --url URL --credentials-file FILE --state-dir DIR

Exit status: 0 when stopped (SIGTERM, SIGINT), 2 for bad arguments or a
credential the service refuses (401), 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import random
import signal
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from barecloud import __version__
from barecloud.hostagent.driver import Capacity, Driver
from barecloud.hostagent.fake import DEFAULT_CAPACITY, FakeDriver
from barecloud.hostagent.http import Unauthorized
from barecloud.hostagent.images import ImageCache
from barecloud.hostagent.loop import MAX_OPERATIONS, POLL_WAIT, HostAgent, hypervisor_of
from barecloud.hostagent.network import LinuxNetworking

CREDENTIAL_ENV = "BARECLOUD_HOST_CREDENTIAL"

log = logging.getLogger("barecloud.hostagent")


class UsageError(Exception):
    """Bad arguments or files: one line, exit status 2."""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="the service's base URL (http://HOST:PORT)")
    p.add_argument("--state-dir", required=True, type=Path,
                   help="where the agent keeps its state, images and VM files")
    p.add_argument("--fake-vcpus", type=int, default=DEFAULT_CAPACITY.vcpus,
                   help="capacity of a fake hypervisor (default %(default)s)")
    p.add_argument("--fake-memory-mb", type=int, default=DEFAULT_CAPACITY.memory_mb)
    p.add_argument("--fake-disk-gb", type=int, default=DEFAULT_CAPACITY.disk_gb)
    p.add_argument("--fake-boot-seconds", type=float, default=0.0,
                   help="how long each operation of a fake hypervisor takes")
    p.add_argument("--max-operations", type=int, default=MAX_OPERATIONS,
                   help="VM operations at once on a host (default %(default)s)")
    p.add_argument("--poll-wait", type=float, default=POLL_WAIT, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    p.add_argument("--version", action="version",
                   version=f"barecloud-host-agent {__version__}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="barecloud host-agent",
        description="The barecloud host agent: reports this hypervisor to the service and "
                    "runs the VMs it is given. `fleet` (first argument) runs many fake "
                    "hypervisors in one process.")
    _common(p)
    p.add_argument("--credential-file", type=Path,
                   help=f"file holding the host's credential (else ${CREDENTIAL_ENV})")
    p.add_argument("--driver", choices=("qemu", "fake"), default="qemu")
    p.add_argument("--netns", help="network namespace the QEMU driver starts VMs in "
                                   "(and makes their networks' bridges in)")
    p.add_argument("--host-ip", help="the IP to report (default: this end of the connection "
                                     "to the service)")
    return p


def fleet_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="barecloud host-agent fleet",
        description="Many fake hypervisors in one process: one host agent per credential, "
                    "on one event loop (for benchmarks).")
    _common(p)
    p.add_argument("--credentials-file", type=Path, required=True,
                   help="one host credential a line")
    p.add_argument("--ramp", type=float, default=1.0,
                   help="seconds over which the agents start (default %(default)s)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    fleet = args_list[:1] == ["fleet"]
    args = (fleet_parser() if fleet else parser()).parse_args(args_list[1:] if fleet
                                                               else args_list)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s barecloud-host-agent %(levelname)s %(message)s")
    try:
        args.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if fleet:
            credentials = read_credentials(args.credentials_file)
            _raise_file_limit()
            return asyncio.run(_run_fleet(args, credentials))
        return asyncio.run(_run_one(args, _credential(args)))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def read_credentials(path: Path) -> list[str]:
    """The credentials in ``path``, one a line; UsageError if others may read it."""
    try:
        mode = os.stat(path).st_mode
        if mode & 0o077:
            raise UsageError(f"{path} is open to group or others (mode "
                             f"{stat.S_IMODE(mode):04o}); a host credential must not be: "
                             f"chmod 600 {path}")
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    found = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not found:
        raise UsageError(f"{path} holds no credential")
    return found


def fake_driver(args: argparse.Namespace, state_dir: Path) -> FakeDriver:
    return FakeDriver(Capacity(args.fake_vcpus, args.fake_memory_mb, args.fake_disk_gb),
                      boot_seconds=args.fake_boot_seconds, state_dir=state_dir / "fake")


def qemu_driver(state_dir: Path, netns: str | None) -> Driver:
    """The QEMU driver, imported only when asked for (it comes with QEMU's support)."""
    try:
        module = importlib.import_module("barecloud.hostagent.qemu")
    except ModuleNotFoundError as exc:
        if exc.name not in ("barecloud.hostagent.qemu", "barecloud.hostagent"):
            raise
        raise UsageError("this barecloud has no QEMU driver (barecloud.hostagent.qemu); "
                         "--driver fake runs a fake hypervisor") from None
    return cast(Driver, module.QemuDriver(state_dir, netns=netns))


def _credential(args: argparse.Namespace) -> str:
    if args.credential_file is not None:
        credentials = read_credentials(args.credential_file)
        if len(credentials) > 1:
            raise UsageError(f"{args.credential_file} holds {len(credentials)} credentials; "
                             "one host has one (`fleet` runs many)")
        return credentials[0]
    credential = os.environ.get(CREDENTIAL_ENV, "").strip()
    if not credential:
        raise UsageError(f"no credential: give --credential-file or set {CREDENTIAL_ENV}")
    return credential


async def _run_one(args: argparse.Namespace, credential: str) -> int:
    state_dir: Path = args.state_dir
    driver = (fake_driver(args, state_dir) if args.driver == "fake"
              else qemu_driver(state_dir, args.netns))
    # QEMU's taps need the networks' bridges and VXLAN devices on this host (in
    # --netns, where its VMs are); a fake hypervisor has no taps.
    networking = None if args.driver == "fake" else LinuxNetworking(netns=args.netns)
    agent = HostAgent(args.url, credential, driver, state_dir, networking=networking,
                      max_operations=args.max_operations, poll_wait=args.poll_wait,
                      host_ip=args.host_ip)
    _on_signals(agent.stop)
    try:
        await agent.run()
    except Unauthorized:
        return 2
    finally:
        await driver.close()
    log.info("stopped")
    return 0


class Fleet:
    """One :class:`HostAgent` per credential on this event loop, images shared (and
    fake consoles not sent: thousands of them would be the service's whole load)."""

    def __init__(self, url: str, credentials: Sequence[str], state_dir: Path,
                 make_driver: Callable[[Path], Driver], *, ramp: float = 0.0,
                 **agent_options: Any) -> None:
        self.ramp = ramp
        images = ImageCache(state_dir / "images")
        self.agents = []
        for index, credential in enumerate(credentials):
            host_dir = state_dir / (hypervisor_of(credential) or f"host-{index}")
            host_dir.mkdir(parents=True, exist_ok=True)
            self.agents.append(HostAgent(url, credential, make_driver(host_dir), host_dir,
                                         images=images, **{"consoles": False,
                                                           **agent_options}))
        self.refused = 0  # agents stopped by a 401
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Until :meth:`stop`, or until every agent has ended."""
        await asyncio.gather(*(self._one(agent) for agent in self.agents))

    def stop(self) -> None:
        self._stopping.set()
        for agent in self.agents:
            agent.stop()

    async def _one(self, agent: HostAgent) -> None:
        if self.ramp:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(random.uniform(0, self.ramp)):
                    await self._stopping.wait()
        if self._stopping.is_set():
            return
        try:
            await agent.run()
        except Unauthorized:
            self.refused += 1
        except Exception:
            log.exception("%s: host agent failed", agent.name)
        finally:
            await agent.driver.close()


async def _run_fleet(args: argparse.Namespace, credentials: list[str]) -> int:
    fleet = Fleet(args.url, credentials, args.state_dir, lambda d: fake_driver(args, d),
                  ramp=args.ramp, max_operations=args.max_operations,
                  poll_wait=args.poll_wait, durable=False)
    log.info("fleet of %d fake hypervisor(s) at %s", len(fleet.agents), args.url)
    _on_signals(fleet.stop)
    await fleet.run()
    if fleet.refused:
        log.error("%d of %d host(s) stopped: credential refused", fleet.refused,
                  len(fleet.agents))
    return 2 if fleet.refused == len(fleet.agents) else 0


def _on_signals(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop)


def _raise_file_limit() -> None:
    """Two connections an agent: hundreds of agents need more than 1024 descriptors."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (hard if hard != resource.RLIM_INFINITY else 65536, hard))
