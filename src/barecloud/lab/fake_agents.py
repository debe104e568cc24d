"""Fake ramdisk agents for many lab machines: the real agent's protocol, no real work.

A real agent (agent/loop.py) exists only after its machine network-booted
the ramdisk; so does a fake one: this process watches the lab's shards
(``GET /lab/v1/machines``) and starts an agent for each machine that is
powered on and booted from ``pxe``, and drops it when the machine powers
off or starts again (a new boot is a new agent: new token, nothing
remembered).  Each agent then does what the real one does, over HTTP only:

- lookup by MAC (and node UUID) until the service knows the node, which
  gives the agent token at the first lookup of the boot;
- heartbeat with the token and a callback URL;
- long-poll the next command; report ``running`` (with progress while it
  "writes"), then ``succeeded`` or ``failed``; a command reported already
  is reported again, not run again; a 401 means look up again for a new
  token, and stop when there is none;
- ``power_off``: report success, then power the machine off through the
  lab (what the machine's OS does).

``write_image`` writes the first sector of the machine's disk file: a boot
signature and what was written (image URL and command id), so a machine
then boots from disk and the disk says which image it holds; ``erase``
clears it.  Every command is appended to the **ledger** (JSONL) when its
work is done: node, boot, command id and name, image, start and end times,
outcome; then a ``report`` line with the answer the final report got.  A
fault-injection checker (tests/invariants.py) compares it with the nodes'
history.  ``--fail-rate``: that share of writes fails (chosen by
the command id, so a re-report gives the same answer).

Answers are counted per status; a 5xx (or an answer that is not JSON) is a
service bug and is kept with its body in ``stats.json``; connection errors
(an API process killed) move on to the next API URL.  The lab is hardware:
this imports nothing of the service.

    python -m barecloud.lab.fake_agents --lab-dir D --api http://127.0.0.1:6385 \\
        [--api URL2] --ledger ledger.jsonl [--stats stats.json]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from barecloud.lab.layout import LabDir

log = logging.getLogger("barecloud.lab.fake_agents")

PREFIX = "/baremetal/v1"
API_VERSION = "1.22"
HIDDEN = "******"
SIGNATURE = b"\x55\xaa"
DISK_MAGIC = b"BCFAKE1 "
SECTOR = 512
RECORD_ROOM = 440  # the MBR's boot code area: partition entries stay zero
MAX_BACKOFF = 5.0


@dataclass
class Options:
    apis: list[str]
    ledger: Path
    stats: Path | None = None
    write_seconds: float = 2.0
    progress_every: float = 1.0
    fail_rate: float = 0.0
    poll_wait: float = 20.0
    heartbeat_interval: float = 10.0
    watch_every: float = 0.5


@dataclass
class Stats:
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    server_errors: list[dict[str, Any]] = field(default_factory=list)
    agents: int = 0
    commands: collections.Counter[str] = field(default_factory=collections.Counter)
    connection_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"statuses": dict(self.statuses), "server_errors": self.server_errors[:50],
                "server_error_count": len(self.server_errors), "agents": self.agents,
                "commands": dict(self.commands), "connection_errors": self.connection_errors}


class Gone(Exception):
    """The agent stops: no token to be had (the real agent exits 1)."""


class Api:
    """The service's agent endpoints over several API processes (a load balancer's job)."""

    def __init__(self, urls: list[str], stats: Stats) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.stats = stats
        self.next = 0
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=3.0),
                                      limits=httpx.Limits(max_connections=None))

    async def call(self, method: str, path: str, *, token: str | None = None,
                   body: Any = None, timeout: float | None = None) -> tuple[int, Any]:
        """One answer that is not a connection error or a 5xx: (status, JSON or None)."""
        headers = {"X-OpenStack-Ironic-API-Version": API_VERSION, "Accept": "application/json"}
        if token:
            headers["X-Agent-Token"] = token
        delay = 0.2
        kind = path.split("/")[1].split("?")[0]
        while True:
            base = self.urls[self.next % len(self.urls)]
            try:
                rsp = await self.http.request(
                    method, base + PREFIX + path, headers=headers, json=body,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
            except httpx.TransportError:
                self.stats.connection_errors += 1
                self.next += 1  # that API process is gone: the next one
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            self.stats.statuses[f"{method} {kind} {rsp.status_code}"] += 1
            if rsp.status_code >= 500:
                self.stats.server_errors.append({"at": time.time(), "method": method,
                                                 "path": path.split("?")[0],
                                                 "status": rsp.status_code,
                                                 "body": rsp.text[:500]})
                self.next += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            try:
                return rsp.status_code, rsp.json() if rsp.content else None
            except ValueError:
                self.stats.server_errors.append({"at": time.time(), "method": method,
                                                 "path": path.split("?")[0],
                                                 "status": rsp.status_code,
                                                 "body": f"not JSON: {rsp.text[:300]}"})
                return rsp.status_code, None


class Ledger:
    """What the agents really did, one JSON object a line, flushed at once."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", buffering=1)

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record, sort_keys=True) + "\n")

    def close(self) -> None:
        self.file.close()


def write_disk(disk: Path, record: dict[str, Any] | None) -> None:
    """Write (or with None, erase) the fake image record in the disk's first sector."""
    if record is None:
        sector = bytes(SECTOR)
    else:
        data = DISK_MAGIC + json.dumps(record, sort_keys=True).encode()
        if len(data) > RECORD_ROOM:
            data = data[:RECORD_ROOM]
        sector = data.ljust(SECTOR - 2, b"\0") + SIGNATURE
    with disk.open("r+b") as f:
        f.write(sector)


def read_disk(disk: Path) -> dict[str, Any] | None:
    """The record ``write_disk`` left, or None (erased, or never written)."""
    try:
        with disk.open("rb") as f:
            sector = f.read(SECTOR)
    except OSError:
        return None
    if not sector.startswith(DISK_MAGIC) or sector[510:512] != SIGNATURE:
        return None
    try:
        found: dict[str, Any] = json.loads(sector[len(DISK_MAGIC):RECORD_ROOM].rstrip(b"\0"))
    except ValueError:
        return None
    return found


def fails(command_id: str, rate: float) -> bool:
    """Whether this command should fail: a function of its id, so stable across re-runs."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(command_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < rate


class Agent:
    """One boot of one machine's ramdisk."""

    def __init__(self, machine: dict[str, Any], shard: Shard, api: Api, ledger: Ledger,
                 opts: Options) -> None:
        self.machine = machine
        self.shard = shard
        self.api = api
        self.ledger = ledger
        self.opts = opts
        self.boot = int(machine["boots"])
        self.node = ""
        self.token: str | None = None
        self.finished: dict[str, tuple[str, dict[str, Any]]] = {}

    async def run(self) -> None:
        try:
            await self._lookup(first=True)
            beats = asyncio.create_task(self._heartbeats())
            try:
                await self._serve()
            finally:
                beats.cancel()
        except Gone as exc:
            log.info("%s boot %d: agent stops: %s", self.machine["name"], self.boot, exc)

    async def _lookup(self, first: bool) -> None:
        macs = ",".join(self.machine["macs"])
        delay = 0.5
        while True:
            status, body = await self.api.call(
                "GET", f"/lookup?addresses={macs}&node_uuid={self.machine['uuid']}")
            if status == 200 and isinstance(body, dict) and isinstance(body.get("node"), dict):
                self.node = str(body["node"]["uuid"])
                token = (body.get("config") or {}).get("agent_token")
                if isinstance(token, str) and token and token != HIDDEN:
                    self.token = token
                    return
                if first and self.token is None:
                    raise Gone("the lookup gave no token and none was delivered")
                if not first:
                    raise Gone("the lookup after a 401 gave no new token")
                return
            if not first:
                raise Gone(f"the lookup after a 401 answered {status}")
            await asyncio.sleep(delay)  # 404: no node in a lookup state has these MACs yet
            delay = min(delay * 2, MAX_BACKOFF)

    async def _heartbeats(self) -> None:
        while True:
            await self.api.call(
                "POST", f"/heartbeat/{self.node}", token=self.token,
                body={"agent_token": self.token, "agent_version": "fake",
                      "callback_url": f"http://127.0.0.1:9/fake-agent/{self.machine['name']}"})
            await asyncio.sleep(self.opts.heartbeat_interval)

    async def _serve(self) -> None:
        while True:
            status, body = await self.api.call(
                "GET", f"/agent/{self.node}/command?wait={self.opts.poll_wait:g}",
                token=self.token, timeout=self.opts.poll_wait + 30)
            if status == 401:
                await self._lookup(first=False)
                continue
            if status != 200:
                await asyncio.sleep(1.0)
                continue
            command = body.get("command") if isinstance(body, dict) else None
            if isinstance(command, dict) and await self._handle(command):
                return

    async def _report(self, command_id: str, status: str, **fields: Any) -> int:
        code, _ = await self.api.call("POST", f"/agent/{self.node}/command/{command_id}",
                                      token=self.token, body={"status": status, **fields})
        return code

    async def _handle(self, command: dict[str, Any]) -> bool:
        """Run one command; True when the machine went off (the agent is gone)."""
        command_id, name = str(command.get("id")), str(command.get("name"))
        params = command.get("params") or {}
        if command_id in self.finished:
            status, fields = self.finished[command_id]
            await self._report(command_id, status, **fields)
            return False
        if await self._report(command_id, "running") == 409:
            return False
        started = time.time()
        self.api.stats.commands[name] += 1
        image = params.get("url") if name == "write_image" else None
        outcome, fields = "succeeded", {"result": {}}
        if name == "write_image":
            total = int(params.get("size") or 1 << 30)
            steps = max(1, round(self.opts.write_seconds / self.opts.progress_every))
            for i in range(steps):
                await asyncio.sleep(self.opts.write_seconds / steps)
                if i < steps - 1:
                    await self._report(command_id, "running",
                                       progress={"bytes": total * (i + 1) // steps,
                                                 "total": total})
            if fails(command_id, self.opts.fail_rate):
                outcome, fields = "failed", {"error": "fake agent: write failed as told"}
            else:
                write_disk(Path(self.machine["disk"]),
                           {"image": image, "command": command_id, "node": self.node})
                fields = {"result": {"bytes": total, "seconds": time.time() - started}}
        elif name == "erase":
            write_disk(Path(self.machine["disk"]), None)
        elif name == "get_inventory":
            fields = {"result": {"inventory": {
                "cpu": {"count": 2, "architecture": "x86_64"},
                "memory": {"physical_mb": 4096},
                "disks": [{"name": "/dev/sda", "size": 10 << 30}],
                "interfaces": [{"name": f"eth{i}", "mac_address": mac}
                               for i, mac in enumerate(self.machine["macs"])]}}}
        elif name not in ("write_configdrive", "power_off"):
            outcome, fields = "failed", {"error": f"fake agent: unknown command {name}"}
        self.finished[command_id] = (outcome, fields)
        # Written when the work is done, before the report: the disk holds it
        # whatever the service answers (or whether the answer arrives at all).
        record = {"node": self.node, "machine": self.machine["name"], "boot": self.boot,
                  "command": command_id, "name": name, "image": image, "outcome": outcome,
                  "started": started, "ended": time.time()}
        self.ledger.write(record)
        code = await self._report(command_id, outcome, **fields)
        self.ledger.write({"node": self.node, "command": command_id, "name": "report",
                           "status": outcome, "answer": code, "at": time.time()})
        if name == "power_off" and outcome == "succeeded":
            await self.shard.power(self.machine["name"], "off")
            return True
        return False


class Shard:
    """One lab shard's control API."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(base_url=url, headers={"X-Lab-Token": token},
                                      timeout=30.0)

    async def machines(self) -> list[dict[str, Any]]:
        rsp = await self.http.get("/lab/v1/machines")
        rsp.raise_for_status()
        found: list[dict[str, Any]] = rsp.json()["machines"]
        return found

    async def power(self, name: str, action: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            await self.http.post(f"/lab/v1/machines/{name}/power", json={"action": action})


async def run(lab: LabDir, opts: Options, stop: asyncio.Event) -> Stats:
    """Play the agents of the lab's machines until ``stop`` is set."""
    state = lab.read()
    shards = [Shard(s.redfish_url, state.control_token) for s in state.shards]
    stats = Stats()
    api = Api(opts.apis, stats)
    ledger = Ledger(opts.ledger)
    agents: dict[str, tuple[int, asyncio.Task[None]]] = {}
    last_stats = 0.0
    try:
        while not stop.is_set():
            for shard in shards:
                try:
                    machines = await shard.machines()
                except httpx.HTTPError as exc:
                    log.warning("lab shard %s: %s", shard.url, exc)
                    continue
                for m in machines:
                    name, boot = m["name"], int(m["boots"])
                    running = agents.get(name)
                    alive = m["power_on"] and m["booted"] == "pxe"
                    if running is not None and (not alive or running[0] != boot):
                        running[1].cancel()  # power went away, or a new boot began
                        del agents[name]
                        running = None
                    if alive and running is None:
                        stats.agents += 1
                        agent = Agent(m, shard, api, ledger, opts)
                        agents[name] = (boot, asyncio.create_task(agent.run()))
            for name, (_, task) in list(agents.items()):
                if task.done() and not task.cancelled() and task.exception() is not None:
                    log.error("%s: agent crashed: %r", name, task.exception())
            if opts.stats and time.monotonic() - last_stats > 2:
                last_stats = time.monotonic()
                write_stats(opts.stats, stats, len(agents))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), opts.watch_every)
    finally:
        for _, task in agents.values():
            task.cancel()
        await asyncio.gather(*(t for _, t in agents.values()), return_exceptions=True)
        ledger.close()
        await api.http.aclose()
        for shard in shards:
            await shard.http.aclose()
        if opts.stats:
            write_stats(opts.stats, stats, 0)
    return stats


def write_stats(path: Path, stats: Stats, running: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**stats.to_dict(), "running": running}, indent=1))
    os.replace(tmp, path)


async def _main(lab: LabDir, opts: Options) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(lab, opts, stop)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lab-dir", required=True)
    p.add_argument("--api", action="append", required=True,
                   help="Base URL of an API process (repeat for several).")
    p.add_argument("--ledger", required=True, help="Where to append the ledger (JSONL).")
    p.add_argument("--stats", help="Where to keep the answer counts (JSON).")
    p.add_argument("--write-seconds", type=float, default=2.0)
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--poll-wait", type=float, default=20.0)
    p.add_argument("--heartbeat-interval", type=float, default=10.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    opts = Options(apis=args.api, ledger=Path(args.ledger),
                   stats=Path(args.stats) if args.stats else None,
                   write_seconds=args.write_seconds, fail_rate=args.fail_rate,
                   poll_wait=args.poll_wait, heartbeat_interval=args.heartbeat_interval)
    asyncio.run(_main(LabDir(args.lab_dir), opts))


if __name__ == "__main__":
    main()
