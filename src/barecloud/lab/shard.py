"""One lab process: the IPMI BMCs of its machines and one Redfish service.

``barecloud lab up`` starts one per shard, in the background::

    python -m barecloud.lab.shard --lab-dir D --shard K

It serves the machines ``lab.json`` gives shard K, each BMC on its own UDP
port, and on its HTTP port both ``/redfish/v1`` and the lab's control API
(``/lab/v1``, for the lab commands only: it needs the ``X-Lab-Token`` from
``lab.json``):

- ``GET /lab/v1/health``: ``{"shard", "pid", "machines"}``; answers once
  every BMC listens, so it doubles as the readiness probe;
- ``POST /lab/v1/reload``: serve the machines ``lab.json`` added since;
- ``PUT|DELETE /lab/v1/machines/{name}/faults/{kind}`` (``{"seconds": s}``
  for ``slow``): set or clear a fault while the machine runs;
- ``GET /lab/v1/machines``: each machine's power, boot count and the device
  it last booted from (what fake agents watch: lab/fake_agents.py);
- ``GET /lab/v1/power-reads?since=T``: when each BMC was asked for the power
  state after Unix time T (how often a cluster polls each BMC);
- ``POST /lab/v1/machines/{name}/power`` (``{"action": "off"}``): what the
  machine's own OS does (a fake agent's ``power_off``).

Machine state is written through on every change, so SIGTERM or SIGKILL
loses nothing; SIGTERM closes the sockets and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hmac
import logging
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from barecloud.lab.firmware import Firmware, NetnsFirmware
from barecloud.lab.ipmi_bmc import MachineBmc, MachineBmcServer
from barecloud.lab.layout import HOST, LabDir
from barecloud.lab.machine import LabError, Machine
from barecloud.lab.redfish.responses import http_error
from barecloud.lab.redfish.service import RedfishService
from barecloud.lab.serial import SerialPort
from barecloud.wire.ipmi.server import raise_open_files_limit

log = logging.getLogger("barecloud.lab.shard")


class Fleet:
    """The machines this process serves, by name and by UUID, and their BMCs."""

    def __init__(self, lab: LabDir, shard: int) -> None:
        self.lab = lab
        self.shard = shard
        self.by_name: dict[str, Machine] = {}
        self.by_uuid: dict[str, Machine] = {}
        self.bmcs: dict[str, MachineBmc] = {}
        self.server = MachineBmcServer()

    def boot_url(self) -> str:
        """Read at every boot: ``lab up --boot-url`` may change it while we run."""
        return self.lab.read().boot_url

    def get(self, ident: str) -> Machine | None:
        return self.by_name.get(ident) or self.by_uuid.get(ident)

    def __iter__(self) -> Iterator[Machine]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    async def load(self) -> int:
        """Serve the machines ``lab.json`` gives this shard and it does not serve yet."""
        state = self.lab.read()
        names = [n for n in state.shards[self.shard].machines if n not in self.by_name]
        _check_open_files(len(self.by_name) + len(names))
        for machine in self.lab.machines(names):
            try:
                self.bmcs[machine.name] = await self.server.add_machine(machine)
            except OSError as exc:
                raise LabError(
                    f"{machine.name}: cannot listen on UDP {HOST}:{machine.ipmi_port}: {exc}"
                ) from None
            machine.serial = SerialPort(asyncio.get_running_loop())  # SOL reaches it here
            if state.mode == "netns" and state.netns is not None:
                netns = state.netns.machines[machine.name].netns
                machine.runner = NetnsFirmware(machine, netns)
            else:
                machine.runner = Firmware(machine, self.boot_url)
            self.by_name[machine.name] = machine
            self.by_uuid[machine.uuid] = machine
        return len(names)

    def set_fault(self, ident: str, kind: str, seconds: float | None, on: bool) -> Machine:
        machine = self.get(ident)
        if machine is None:
            raise LabError(f"no machine {ident!r} in shard {self.shard}")
        if on:
            machine.set_fault(kind, seconds)
        else:
            machine.clear_fault(kind)
        if kind in ("bad-credentials", "all"):
            self.bmcs[machine.name].credentials_changed()
        return machine

    async def close(self) -> None:
        for machine in self:
            if machine.runner is not None:
                machine.runner.stop()  # no agent outlives its lab
        await self.server.close()


def _check_open_files(count: int) -> None:
    limit = raise_open_files_limit(1 << 20)
    if count + 256 > limit:
        raise LabError(
            f"{count} BMCs need {count + 256} open files; the limit is {limit}: use more shards"
        )


class Control:
    """The lab's own API on the shard's HTTP port."""

    def __init__(self, fleet: Fleet, token: str) -> None:
        self.fleet = fleet
        self.token = token

    def routes(self) -> list[Route]:
        guard = self._guard
        return [
            Route("/lab/v1/health", guard(self.health)),
            Route("/lab/v1/reload", guard(self.reload), methods=["POST"]),
            Route("/lab/v1/machines", guard(self.machines)),
            Route("/lab/v1/power-reads", guard(self.power_reads)),
            Route("/lab/v1/machines/{ident}/power", guard(self.power), methods=["POST"]),
            Route(
                "/lab/v1/machines/{ident}/faults/{kind}",
                guard(self.fault),
                methods=["PUT", "DELETE"],
            ),
        ]

    def _guard(
        self, endpoint: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            token = request.headers.get("x-lab-token", "")
            if not hmac.compare_digest(token.encode(), self.token.encode()):
                return JSONResponse({"error": "wrong or missing X-Lab-Token"}, 401)
            try:
                return await endpoint(request)
            except LabError as exc:
                return JSONResponse({"error": str(exc)}, 400)

        return guarded

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {"shard": self.fleet.shard, "pid": os.getpid(), "machines": len(self.fleet)}
        )

    async def machines(self, request: Request) -> Response:
        return JSONResponse({"machines": [
            {"name": m.name, "uuid": m.uuid, "macs": m.macs, "power_on": m.power_on,
             "boots": m.boots, "booted": m.booted, "disk": str(m.disk_path)}
            for m in self.fleet]})

    async def power_reads(self, request: Request) -> Response:
        try:
            since = float(request.query_params.get("since", "0"))
        except ValueError:
            raise LabError("since must be a Unix time") from None
        now = time.time()
        return JSONResponse({"now": now, "reads": {
            m.name: m.power_reads[bisect.bisect_right(m.power_reads, since):]
            for m in self.fleet}})

    async def power(self, request: Request) -> Response:
        machine = self.fleet.get(request.path_params["ident"])
        if machine is None:
            raise LabError(f"no machine {request.path_params['ident']!r} in shard "
                           f"{self.fleet.shard}")
        action = str((await request.json()).get("action", ""))
        machine.power(action, "os")
        return JSONResponse({"name": machine.name, "power_on": machine.power_on})

    async def reload(self, request: Request) -> Response:
        added = await self.fleet.load()
        return JSONResponse({"added": added, "machines": len(self.fleet)})

    async def fault(self, request: Request) -> Response:
        seconds: Any = None
        if request.method == "PUT" and await request.body():
            seconds = (await request.json()).get("seconds")
        machine = self.fleet.set_fault(
            request.path_params["ident"],
            request.path_params["kind"],
            None if seconds is None else float(seconds),
            on=request.method == "PUT",
        )
        return JSONResponse({"name": machine.name, "faults": sorted(machine.faults)})


class _StripSlash:
    """``/redfish/v1/`` and ``/redfish/v1`` are the same resource (clients use both)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/")}
        await self.app(scope, receive, send)


def build_app(fleet: Fleet, token: str, port: int) -> ASGIApp:
    redfish = RedfishService(fleet, uuid.uuid5(uuid.NAMESPACE_URL, f"barecloud-lab:{port}"))
    app = Starlette(
        routes=[*redfish.routes(), *Control(fleet, token).routes()],
        exception_handlers={HTTPException: http_error},
    )
    return _StripSlash(app)


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: a response written in two parts (head,
    # then body) would otherwise wait for the client's delayed ACK, 40 ms per
    # request on a kept-alive connection.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((HOST, port))
    except OSError as exc:
        sock.close()
        raise LabError(f"cannot listen on TCP {HOST}:{port} for Redfish: {exc}") from None
    sock.listen(1024)
    return sock


async def serve(lab: LabDir, shard_id: int, owner_pid: int | None = None) -> None:
    """Serve shard ``shard_id`` of the lab until SIGTERM or SIGINT, or until the
    process ``owner_pid`` ends (``serve --lab``: the lab dies with the service,
    even a SIGKILLed one; ``lab up``, which started us, has exited by then, so
    PR_SET_PDEATHSIG cannot say it)."""
    state = lab.read()
    shard = state.shards[shard_id]
    fleet = Fleet(lab, shard_id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if owner_pid is not None:
        try:
            owner = os.pidfd_open(owner_pid)  # readable once that process has ended
        except ProcessLookupError:
            raise LabError(f"the lab's owner (pid {owner_pid}) has ended") from None
        loop.add_reader(owner, stop.set)
    try:
        await fleet.load()
        sock = _listen(shard.redfish_port)
        config = uvicorn.Config(
            build_app(fleet, state.control_token, shard.redfish_port),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        server = uvicorn.Server(config)
        # uvicorn catches SIGTERM itself while it serves, then raises it again
        # for the handlers above: either way both stop.
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        ports = [m.ipmi_port for m in fleet]
        log.info(
            "shard %d (pid %d): %d machines, IPMI on UDP %s, Redfish on %s",
            shard_id, os.getpid(), len(fleet),
            f"{min(ports)}-{max(ports)}" if ports else "-", shard.redfish_url,
        )  # fmt: skip
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        # A BMC going away drops its connections: requests held by the
        # `unreachable` fault end with no answer rather than a 500.
        for connection in list(server.server_state.connections):
            connection.transport.abort()
        server.should_exit = True
        await serving
        stopping.cancel()
    finally:
        await fleet.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one shard of a barecloud lab.")
    parser.add_argument("--lab-dir", required=True)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--owner-pid", type=int, default=None,
                        help="Stop when this process ends.")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    log.setLevel(logging.DEBUG if args.debug else logging.INFO)
    try:
        asyncio.run(serve(LabDir(args.lab_dir), args.shard, args.owner_pid))
    except LabError as exc:
        log.error("%s", exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
