"""Build, start, stop and inspect a lab: the shard processes and ``lab.json``.

``up`` is idempotent: it creates the machines missing up to the number
asked, hands them to shards (filling shards evenly, new shards only when
asked or when existing ones would exceed ``MACHINES_PER_SHARD``), starts
shards that do not run and tells running ones to load their new machines.
A machine keeps its shard and ports for life, because what was enrolled
(IPMI port, Redfish URL) must stay true.

Processes are found again by the PIDs in ``lab.json``, checked against
``/proc/<pid>/cmdline`` so that a recycled PID is never signalled.

A netns lab (``up(..., netns=True)``) is also wired before its shards
start, so a machine's namespace exists before it can be powered on, and
unwired after they stop (netns.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from barecloud import procs
from barecloud.lab import netns as lab_netns
from barecloud.lab import ovs as lab_ovs
from barecloud.lab.layout import HOST, LabDir, LabState, Shard
from barecloud.lab.machine import LabError, Machine, Profile

MACHINES_PER_SHARD = 2500  # epoll copes with more; this spreads load over cores
# Where a new lab starts looking for free ports (below the ephemeral ones): machine i
# listens on ipmi_base_port + i - 1 (UDP), shard k on redfish_base_port + k (TCP).
IPMI_BASE_PORT = 16000
REDFISH_BASE_PORT = 15000
IPMI_PORT_STEP, REDFISH_PORT_STEP = 100, 10
EPHEMERAL_PORTS = 32768
START_TIMEOUT = 60.0  # per shard, plus a little per machine
PORTS_LOCK = Path(tempfile.gettempdir()) / "barecloud-lab-ports.lock"

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


def up(
    lab: LabDir,
    nodes: int,
    *,
    shards: int | None = None,
    profile: Profile | None = None,
    username: str | None = None,
    password: str | None = None,
    ipmi_base_port: int | None = None,
    redfish_base_port: int | None = None,
    mac_prefix: str | None = None,
    boot_url: str | None = None,
    netns: bool = False,
    rate: str | None = None,
    switch: str | None = None,
    owner_pid: int | None = None,
    progress: Progress = _quiet,
) -> LabState:
    """Make the lab have at least ``nodes`` machines, all served; return its state.

    ``netns`` builds a namespace lab (netns.py); the mode is fixed when the
    lab is built, and a netns lab stays one without the flag.  ``rate``
    shapes every cable of a netns lab (``"off"``: no more shaping).  Shards
    started here with ``owner_pid`` stop when that process ends.
    """
    if nodes < 0 or (shards is not None and shards < 1):
        raise LabError("--nodes must be at least 0 and --shards at least 1")
    if len((username or "").encode()) > 16 or len((password or "").encode()) > 20:
        raise LabError("IPMI 2.0 allows user names of 16 bytes and passwords of 20 at most")
    with lab.lock(), _host_ports():
        existed = lab.exists()
        state = _open_or_create(lab, username, password, ipmi_base_port, redfish_base_port,
                                mac_prefix, nodes, shards)  # fmt: skip
        if netns and state.mode != "netns":
            if existed:
                raise LabError("this lab was built in loopback mode; the mode is fixed when "
                               "the lab is built (`barecloud lab down --purge` starts over; "
                               "nodes enrolled from it stay in barecloud until deleted there)")
            state.mode = "netns"
        if state.mode == "netns":
            lab_netns.check_host()
        elif rate is not None:
            raise LabError("--rate shapes the cables of a netns lab (--netns)")
        elif switch is not None:
            raise LabError("--switch chooses the switch of a netns lab (--netns)")
        if boot_url is not None:
            state.boot_url = boot_url  # running shards read it at the next boot
        wanted = shards or len(state.shards) or 1
        if shards is None and nodes > state.machine_count:
            wanted = max(wanted, math.ceil(nodes / MACHINES_PER_SHARD))
        if wanted < len(state.shards):
            raise LabError(
                f"the lab has {len(state.shards)} shards; shards are added, never removed "
                "(`barecloud lab down --purge` starts over)"
            )
        for k in range(len(state.shards), wanted):
            state.shards.append(Shard(k, state.redfish_base_port + k))
        grown = _create_machines(lab, state, nodes, profile or Profile(), username, password,
                                 progress)  # fmt: skip
        lab.write(state)
        if state.mode == "netns":
            machines = list(lab.machines())
            wiring = lab_netns.plan(lab.path, state.netns, machines, switch)
            if wiring.switch_driver == lab_netns.OVS_DRIVER:
                lab_ovs.check_host()
            state.netns = lab_netns.wire(wiring, machines, rate)
            lab.write(state)
            if state.netns.ovs_rundir:
                lab_ovs.start(state.netns.switch_netns, Path(state.netns.ovs_rundir))
            progress(f"wired {len(machines)} machines to switch namespace "
                     f"{state.netns.switch_netns}")  # fmt: skip
        started: list[tuple[Shard, subprocess.Popen[bytes]]] = []
        for shard in state.shards:
            if _running(lab, shard):
                if shard.id in grown:
                    _control(state, shard, "POST", "/lab/v1/reload", timeout=START_TIMEOUT)
                continue
            proc = _spawn(lab, shard, owner_pid)
            shard.pid = proc.pid
            started.append((shard, proc))
        lab.write(state)
        try:
            for shard, proc in started:
                _wait_ready(lab, state, shard, proc)
        except LabError:
            _stop_started(lab, state, started)  # no half-started lab left behind
            raise
        if started:
            progress(f"started {len(started)} shard(s)")
        return state


def port_free(port: int, kind: int) -> bool:
    """Nothing on this host listens on ``port`` (``socket.SOCK_DGRAM``: UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the shard binds
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_base(start: int, count: int, step: int, kind: int, limit: int) -> int:
    """The first base from ``start``, by ``step``, whose ``count`` ports are all free."""
    step = max(step, math.ceil(count / step) * step)
    for base in range(start, limit - count + 1, step):
        if all(port_free(p, kind) for p in range(base, base + count)):
            return base
    raise LabError(f"no {count} free ports from {start} to {limit}: "
                   "pass --ipmi-base-port / --redfish-base-port")


@contextlib.contextmanager
def _host_ports() -> Iterator[None]:
    """One lab of this host at a time picks ports and binds them (two labs made at
    once would both find the same ports free)."""
    with PORTS_LOCK.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _open_or_create(
    lab: LabDir,
    username: str | None,
    password: str | None,
    ipmi_base_port: int | None,
    redfish_base_port: int | None,
    mac_prefix: str | None,
    nodes: int = 1,
    shards: int | None = None,
) -> LabState:
    if not lab.exists():
        # Chosen free once, then kept: what was enrolled must stay true.  A stopped
        # lab's ports are not reserved: a lab made meanwhile may take them, and the
        # stopped one then says "cannot listen" when it starts again.
        if ipmi_base_port is None:
            ipmi_base_port = free_base(IPMI_BASE_PORT, max(nodes, 1), IPMI_PORT_STEP,
                                       socket.SOCK_DGRAM, EPHEMERAL_PORTS)
        if redfish_base_port is None:
            count = max(shards or 1, math.ceil(max(nodes, 1) / MACHINES_PER_SHARD))
            redfish_base_port = free_base(REDFISH_BASE_PORT, count, REDFISH_PORT_STEP,
                                          socket.SOCK_STREAM, IPMI_BASE_PORT)
        return LabState(
            ipmi_base_port=ipmi_base_port,
            redfish_base_port=redfish_base_port,
            username=username or "admin",
            password=password or "password",
            control_token=secrets.token_urlsafe(24),
            mac_prefix=mac_prefix or "52:54:00",
        )
    state = lab.read()
    fixed = {
        "--ipmi-base-port": (ipmi_base_port, state.ipmi_base_port),
        "--redfish-base-port": (redfish_base_port, state.redfish_base_port),
        "--mac-prefix": (mac_prefix, state.mac_prefix),
    }
    for option, (given, kept) in fixed.items():
        if given is not None and given != kept:
            raise LabError(f"{option} is fixed when the lab is built: this lab has {kept}")
    return state


def _create_machines(
    lab: LabDir,
    state: LabState,
    nodes: int,
    profile: Profile,
    username: str | None,
    password: str | None,
    progress: Progress,
) -> set[int]:
    """Create machines ``count+1 .. nodes``, in blocks that even the shards out."""
    first = state.machine_count + 1
    if nodes < first:
        return set()
    last_port = state.ipmi_base_port + nodes - 1
    if last_port > 65535:
        raise LabError(f"{nodes} machines from UDP port {state.ipmi_base_port} pass 65535")
    per_shard = math.ceil(nodes / len(state.shards))
    index = first
    grown: set[int] = set()
    started = time.monotonic()
    lab.machines_path.mkdir(mode=0o700, parents=True, exist_ok=True)  # passwords inside
    for shard in state.shards:  # the targets add up to at least `nodes`: all fit
        while index <= nodes and len(shard.machines) < per_shard:
            name = f"{state.name_prefix}-{index:05d}"
            Machine.create(
                lab.machines_path,
                name=name,
                index=index,
                shard=shard.id,
                profile=profile,
                mac_prefix=state.mac_prefix,
                ipmi_port=state.ipmi_base_port + index - 1,
                username=username or state.username,
                password=password or state.password,
            )
            shard.machines.append(name)
            grown.add(shard.id)
            index += 1
    progress(f"created {nodes - first + 1} machines in {time.monotonic() - started:.1f}s")
    return grown


def down(lab: LabDir, *, purge: bool = False, timeout: float = 15.0,
         progress: Progress = _quiet) -> list[int]:  # fmt: skip
    """Stop every shard by its PID (SIGTERM, then SIGKILL); return the PIDs stopped.

    A netns lab's namespaces go too (those ``lab.json`` records, nothing else).
    """
    if not lab.exists():
        if purge and lab.path.exists():
            raise LabError(f"{lab.path} holds no lab.json: not deleting it")
        return []
    with lab.lock():
        state = lab.read()
        stopped = [s.pid for s in state.shards if s.pid and _running(lab, s)]
        for pid in stopped:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for shard in state.shards:
            while shard.pid and _running(lab, shard):
                if time.monotonic() > deadline:
                    os.kill(shard.pid, signal.SIGKILL)
                time.sleep(0.02)
            shard.pid = None
        if state.netns is not None:
            if state.netns.ovs_rundir:
                lab_ovs.stop(Path(state.netns.ovs_rundir))
            # After the shards: their machines' processes are gone, or killed here.
            deleted = lab_netns.unwire(state.netns)
            progress(f"deleted {len(deleted)} network namespace(s)")
        lab.write(state)
    if purge:
        shutil.rmtree(lab.path)
    return [pid for pid in stopped if pid]


def status(lab: LabDir, machines: bool = False) -> dict[str, Any]:
    """The lab as JSON-ready data: shards (running or not) and, if asked, each machine."""
    state = lab.read()
    out: dict[str, Any] = {
        "lab_dir": str(lab.path),
        "host": HOST,
        "machines": state.machine_count,
        "username": state.username,
        "ipmi_ports": _ipmi_ports(state),
        # The lab's own test credentials (lab.json, 0600), which an operator types
        # into ipmitool; machines made with --bmc-password have their own.
        "password": state.password,
        "shards": [
            {
                "id": s.id,
                "pid": s.pid,
                "running": _running(lab, s),
                "redfish_url": s.redfish_url,
                "machines": len(s.machines),
                "log": str(lab.log_path(s.id)),
            }
            for s in state.shards
        ],
    }
    wiring = state.netns
    out["mode"] = state.mode
    if wiring is not None:
        present = lab_netns.namespaces()
        out["switch"] = {"name": wiring.switch_name, "id": wiring.switch_id,
                         "netns": wiring.switch_netns, "rate": wiring.rate,
                         "driver": wiring.switch_driver,
                         "wired": wiring.switch_netns in present, "ports": wiring.ports,
                         "settings": wiring.switch_definition()}  # fmt: skip
    if machines:
        urls = {name: s.redfish_url for s in state.shards for name in s.machines}
        out["machine_list"] = [
            {
                "name": m.name,
                "uuid": m.uuid,
                "power": "on" if m.power_on else "off",
                "boot": f"{m.boot.device}/{m.boot.enabled}/{m.boot.mode}",
                "ipmi": f"{HOST}:{m.ipmi_port}",
                "redfish": f"{urls[m.name]}/redfish/v1/Systems/{m.name}",
                "macs": m.macs,
                "faults": m.faults,
                **({"netns": wiring.machines[m.name].netns, "ports": wiring.machines[m.name].ports}
                   if wiring is not None and m.name in wiring.machines else {}),
            }
            for m in lab.machines()
        ]
    return out


def _ipmi_ports(state: LabState) -> str:
    """``first-last`` (or one port, or "-"): the UDP ports the lab's BMCs listen on
    (machine i on ipmi_base_port + i - 1)."""
    first, count = state.ipmi_base_port, state.machine_count
    if not count:
        return "-"
    return f"{first}-{first + count - 1}" if count > 1 else str(first)


def netns_of(lab: LabDir, ident: str) -> str:
    """The namespace of a machine (by name or UUID), of the switch (``switch``) or of the
    outside (``outside``)."""
    state = lab.read()
    if state.netns is None:
        raise LabError("this is a loopback lab: its machines have no namespace (lab up --netns)")
    if ident == "switch":
        return state.netns.switch_netns
    if ident == "outside" and state.netns.outside_netns:
        return state.netns.outside_netns
    name = lab.machine(ident).name
    if name not in state.netns.machines:
        raise LabError(f"{name} is not wired (run `barecloud lab up --netns`)")
    return state.netns.machines[name].netns


def fault(lab: LabDir, ident: str, kind: str, *, on: bool = True,
          seconds: float | None = None) -> list[str]:  # fmt: skip
    """Set (or clear) a fault, through the running shard or else in the machine's file."""
    state = lab.read()
    machine = lab.machine(ident)
    shard = state.shard_of(machine.name)
    if _running(lab, shard):
        body = {"seconds": seconds} if seconds is not None else None
        path = f"/lab/v1/machines/{machine.name}/faults/{kind}"
        answer = _control(state, shard, "PUT" if on else "DELETE", path, body)
        return list(answer["faults"])
    with lab.lock():
        machine = lab.machine(machine.name)
        if on:
            machine.set_fault(kind, seconds)
        else:
            machine.clear_fault(kind)
    return sorted(machine.faults)


def console_path(lab: LabDir, ident: str) -> Path:
    return lab.machine(ident).console_path


# --- processes -------------------------------------------------------------------


def _spawn(lab: LabDir, shard: Shard, owner_pid: int | None = None) -> subprocess.Popen[bytes]:
    log_path = lab.log_path(shard.id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    owner = ["--owner-pid", str(owner_pid)] if owner_pid is not None else []
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "barecloud.lab.shard",
             "--lab-dir", str(lab.path), "--shard", str(shard.id), *owner],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at the terminal does not reach the lab
        )  # fmt: skip
    return proc


def _stop_started(
    lab: LabDir, state: LabState, started: list[tuple[Shard, subprocess.Popen[bytes]]]
) -> None:
    for shard, proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shard.pid = None
    lab.write(state)


def _running(lab: LabDir, shard: Shard) -> bool:
    """True if ``shard.pid`` is alive and is this lab's shard process (not a recycled PID)."""
    pid = shard.pid
    if not pid:
        return False
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our child and exited
    argv = procs.command_line(pid)
    if argv is None:
        return False
    expected = [b"barecloud.lab.shard", b"--lab-dir", str(lab.path).encode(),
                b"--shard", str(shard.id).encode()]  # fmt: skip
    return all(part in argv for part in expected)


def _control(
    state: LabState,
    shard: Shard,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    try:
        rsp = httpx.request(
            method, f"{shard.redfish_url}{path}", json=body, timeout=timeout,
            headers={"X-Lab-Token": state.control_token},
        )  # fmt: skip
    except httpx.HTTPError as exc:
        raise LabError(f"shard {shard.id} at {shard.redfish_url} does not answer: {exc}") from None
    data: dict[str, Any] = rsp.json()
    if rsp.status_code != 200:
        raise LabError(f"shard {shard.id}: {data.get('error', rsp.text)}")
    return data


def _wait_ready(lab: LabDir, state: LabState, shard: Shard, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the shard serves all its machines; say why if it died instead."""
    deadline = time.monotonic() + START_TIMEOUT + len(shard.machines) / 200
    while time.monotonic() < deadline:
        if proc.poll() is not None:  # (its /proc cmdline is ours until it execs)
            raise LabError(f"shard {shard.id} exited:\n{_tail(lab.log_path(shard.id))}")
        try:
            rsp = httpx.get(
                f"{shard.redfish_url}/lab/v1/health", timeout=2.0,
                headers={"X-Lab-Token": state.control_token},
            )  # fmt: skip
            if rsp.status_code == 200 and rsp.json()["machines"] >= len(shard.machines):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise LabError(f"shard {shard.id} not ready in time:\n{_tail(lab.log_path(shard.id))}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
