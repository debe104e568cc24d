"""The lab's commands: ``barecloud lab ...`` and ``python -m barecloud.lab ...``.

Defined here, with the lab, so the service's CLI (``barecloud.cli.lab``)
and the lab's own entry point run the very same commands, and the lab
keeps importing nothing of the service.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from barecloud.lab import enroll as enrollment
from barecloud.lab import netns as lab_netns
from barecloud.lab import supervisor
from barecloud.lab.layout import LabDir, LabState
from barecloud.lab.machine import FAULTS, LabError, Profile

lab_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Virtual machines with real BMCs (IPMI 2.0 and Redfish) on 127.0.0.1; "
         "with --netns each machine has its own network namespace behind a lab switch.",
)

LabDirOpt = Annotated[
    Path, typer.Option("--lab-dir", envvar="BARECLOUD_LAB_DIR", help="Where the lab is kept.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
DriverOpt = Annotated[
    str, typer.Option("--driver", help=f"Driver to enroll with: {', '.join(enrollment.DRIVERS)}.")
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="OS_TOKEN", help="X-Auth-Token, if needed.")
]
DEFAULT_LAB_DIR = Path("data/lab")


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _fail(exc: LabError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _summary(lab: LabDir, state: LabState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "lab_dir": str(lab.path),
        "machines": state.machine_count,
        "mode": state.mode,
        "shards": [
            {"id": s.id, "pid": s.pid, "redfish_url": s.redfish_url, "machines": len(s.machines)}
            for s in state.shards
        ],
    }
    if state.netns is not None:
        w = state.netns
        out["switch"] = {"name": w.switch_name, "id": w.switch_id, "netns": w.switch_netns,
                         "rate": w.rate}  # fmt: skip
        # What barecloud's `switches` setting needs to drive this lab's switch.
        out["switches"] = w.switch_definition()
        out["wiring"] = {name: {"netns": link.netns, "ports": link.ports}
                         for name, link in w.machines.items()}  # fmt: skip
    return out


@lab_app.command()
def up(
    nodes: Annotated[int, typer.Option("--nodes", help="Machines the lab should have.")] = 4,
    shards: Annotated[
        int | None,
        typer.Option(help=f"Processes (default: one per {supervisor.MACHINES_PER_SHARD})."),
    ] = None,
    lab_dir: LabDirOpt = DEFAULT_LAB_DIR,
    cpus: Annotated[int, typer.Option(help="CPUs of new machines.")] = 2,
    memory_mb: Annotated[int, typer.Option(help="Memory of new machines.")] = 4096,
    disk_gb: Annotated[int, typer.Option(help="Disk of new machines (a sparse file).")] = 10,
    cpu_arch: Annotated[str, typer.Option(help="CPU architecture of new machines.")] = "x86_64",
    nics: Annotated[int, typer.Option(help="NICs of new machines (1 or 2).")] = 1,
    bmc_username: Annotated[str | None, typer.Option(help="BMC user (default admin).")] = None,
    bmc_password: Annotated[
        str | None, typer.Option(help="BMC password (default password).")
    ] = None,
    ipmi_base_port: Annotated[
        int | None,
        typer.Option(help="UDP port of machine 1 (default: the first free block from "
                          f"{supervisor.IPMI_BASE_PORT})."),
    ] = None,
    redfish_base_port: Annotated[
        int | None,
        typer.Option(help="TCP port of shard 0 (default: the first free block from "
                          f"{supervisor.REDFISH_BASE_PORT})."),
    ] = None,
    enroll: Annotated[
        str | None, typer.Option("--enroll", help="Then enroll the machines at this barecloud URL.")
    ] = None,
    boot_url: Annotated[
        str | None,
        typer.Option(help="The iPXE script machines network-boot from (the DHCP boot file), "
                          "e.g. http://127.0.0.1:6385/boot/boot.ipxe."),
    ] = None,
    netns: Annotated[
        bool,
        typer.Option("--netns", help="Each machine in its own network namespace, cabled to a "
                                     "lab switch (root; fixed when the lab is built)."),
    ] = False,
    rate: Annotated[
        str | None,
        typer.Option(help="netns lab: shape every cable (tc tbf), e.g. 200mbit; off: unshaped."),
    ] = None,
    switch: Annotated[
        str | None,
        typer.Option(help="netns lab: what plays the switch, linux-bridge (bare veths for "
                          "barecloud's linux-bridge driver, the default) or openvswitch "
                          "(an Open vSwitch bridge, userspace datapath); fixed when the lab "
                          "is built."),
    ] = None,
    owner_pid: Annotated[
        int | None,
        typer.Option(help="Shards started now stop when this process ends (serve --lab)."),
    ] = None,
    driver: DriverOpt = "ipmi",
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the lab (or grow it to --nodes machines) and start it in the background."""
    lab = LabDir(lab_dir)
    started = time.monotonic()
    try:
        state = supervisor.up(
            lab, nodes, shards=shards,
            profile=Profile(cpus, memory_mb, cpu_arch, disk_gb, nics),
            username=bmc_username, password=bmc_password,
            ipmi_base_port=ipmi_base_port, redfish_base_port=redfish_base_port,
            boot_url=boot_url, netns=netns, rate=rate, switch=switch, owner_pid=owner_pid,
            progress=_say,
        )  # fmt: skip
        _say(f"lab at {lab.path}: {state.machine_count} machines in {len(state.shards)} "
             f"shard(s), ready in {time.monotonic() - started:.1f}s")  # fmt: skip
        if enroll:
            _enroll(lab, enroll, driver, token)
    except LabError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(_summary(lab, state)))
        return
    for s in state.shards:
        typer.echo(f"shard {s.id}: pid {s.pid}, {len(s.machines)} machines, "
                   f"Redfish {s.redfish_url}/redfish/v1")  # fmt: skip
    if state.netns is not None:
        w = state.netns
        typer.echo(f"switch {w.switch_name} (id {w.switch_id}) in namespace {w.switch_netns}, "
                   f"ports p1-p{len(w.ports)}, rate {w.rate or 'unshaped'}")  # fmt: skip
        typer.echo(f"barecloud setting: switches = {json.dumps(w.switch_definition())}")


@lab_app.command()
def down(
    lab_dir: LabDirOpt = DEFAULT_LAB_DIR,
    purge: Annotated[bool, typer.Option(help="Also delete the lab directory.")] = False,
) -> None:
    """Stop the lab's processes (by their PIDs); --purge deletes the machines too."""
    lab = LabDir(lab_dir)
    try:
        stopped = supervisor.down(lab, purge=purge, progress=_say)
    except LabError as exc:
        raise _fail(exc) from None
    what = f"stopped {len(stopped)} shard process(es)" if stopped else "nothing was running"
    typer.echo(what + (f"; deleted {lab.path}" if purge else ""))


@lab_app.command()
def status(
    lab_dir: LabDirOpt = DEFAULT_LAB_DIR,
    machines: Annotated[bool, typer.Option("--machines", help="List every machine.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The lab's shards, and with --machines each machine's power, boot and faults."""
    try:
        info = supervisor.status(LabDir(lab_dir), machines=machines)
    except LabError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    typer.echo(f"lab {info['lab_dir']}: {info['machines']} machines, BMC user {info['username']}"
               f" password {info['password']}, mode {info['mode']}")  # fmt: skip
    typer.echo(f"  IPMI on {info['host']} UDP ports {info['ipmi_ports']}")
    if "switch" in info:
        sw = info["switch"]
        wired = "wired" if sw["wired"] else "not wired (lab down)"
        typer.echo(f"  switch {sw['name']} (id {sw['id']}): namespace {sw['netns']}, {wired}, "
                   f"ports {' '.join(sw['ports'])}, rate {sw['rate'] or 'unshaped'}")  # fmt: skip
    for s in info["shards"]:
        state = f"running (pid {s['pid']})" if s["running"] else "stopped"
        typer.echo(f"  shard {s['id']}: {state}, {s['machines']} machines, "
                   f"Redfish {s['redfish_url']}/redfish/v1")  # fmt: skip
    for m in info.get("machine_list", []):
        faults = ",".join(m["faults"]) or "-"
        wiring = ""
        if "netns" in m:
            cables = ",".join(f"{nic}={port}" for nic, port in m["ports"].items())
            wiring = f"  netns {m['netns']}  ports {cables}"
        typer.echo(f"  {m['name']}  {m['uuid']}  power {m['power']:<3}  boot {m['boot']:<22}  "
                   f"ipmi {m['ipmi']}  faults {faults}{wiring}")  # fmt: skip


@lab_app.command()
def fault(
    machine: Annotated[str, typer.Argument(help="Machine name or UUID.")],
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(FAULTS)} (or all, with --off).")],
    off: Annotated[bool, typer.Option("--off", help="Clear the fault instead.")] = False,
    seconds: Annotated[
        float | None, typer.Option(help="Delay of the slow fault (default 3).")
    ] = None,
    lab_dir: LabDirOpt = DEFAULT_LAB_DIR,
) -> None:
    """Make a machine's BMCs misbehave (or stop misbehaving); takes effect at once."""
    try:
        if kind == "all" and not off:
            raise LabError("`all` only goes with --off")
        faults = supervisor.fault(LabDir(lab_dir), machine, kind, on=not off, seconds=seconds)
    except LabError as exc:
        raise _fail(exc) from None
    typer.echo(f"{machine}: faults {', '.join(faults) or 'none'}")


@lab_app.command()
def console(
    machine: Annotated[str, typer.Argument(help="Machine name or UUID.")],
    lab_dir: LabDirOpt = DEFAULT_LAB_DIR,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
) -> None:
    """Print the machine's serial console log."""
    try:
        path = supervisor.console_path(LabDir(lab_dir), machine)
    except LabError as exc:
        raise _fail(exc) from None
    position = 0
    while True:
        try:
            with path.open() as log:
                log.seek(position)
                text = log.read()
                position = log.tell()
        except FileNotFoundError:
            text = ""
        if text:
            typer.echo(text, nl=False)
        if not follow:
            return
        time.sleep(0.5)


@lab_app.command("exec")
def exec_cmd(
    machine: Annotated[str, typer.Argument(help="Machine name or UUID, `switch` or `outside`.")],
    command: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
    lab_dir: LabDirOpt = DEFAULT_LAB_DIR,
) -> None:
    """Run a command in a machine's network namespace (netns lab): its output, its status."""
    try:
        netns = supervisor.netns_of(LabDir(lab_dir), machine)
    except LabError as exc:
        raise _fail(exc) from None
    # The output is the command's own (inherited stdout and stderr).
    code = subprocess.run(lab_netns.exec_argv(netns, command), check=False).returncode
    raise typer.Exit(code)


@lab_app.command("enroll")
def enroll_cmd(
    url: Annotated[str, typer.Argument(help="barecloud's URL, e.g. http://127.0.0.1:6385.")],
    driver: DriverOpt = "ipmi",
    lab_dir: LabDirOpt = DEFAULT_LAB_DIR,
    token: TokenOpt = None,
) -> None:
    """Enroll the lab's machines as nodes with ports (those enrolled already are skipped)."""
    try:
        _enroll(LabDir(lab_dir), url, driver, token)
    except LabError as exc:
        raise _fail(exc) from None


@lab_app.command("agents")
def agents_cmd(
    api: Annotated[list[str], typer.Option(
        "--api", help="Base URL of an API process, e.g. http://127.0.0.1:6385 (repeat).")],
    ledger: Annotated[Path, typer.Option(help="Where to append what the agents did (JSONL).")],
    lab_dir: LabDirOpt = DEFAULT_LAB_DIR,
    stats: Annotated[Path | None, typer.Option(help="Where to keep answer counts (JSON).")]
    = None,
    write_seconds: Annotated[float, typer.Option(help="Seconds a fake image write takes.")]
    = 2.0,
    fail_rate: Annotated[float, typer.Option(help="Share of image writes that fail.")] = 0.0,
) -> None:
    """Play fake ramdisk agents for the machines that network-boot (lab/fake_agents.py)."""
    from barecloud.lab import fake_agents

    argv = ["--lab-dir", str(lab_dir), "--ledger", str(ledger),
            "--write-seconds", str(write_seconds), "--fail-rate", str(fail_rate)]
    for url in api:
        argv += ["--api", url]
    if stats is not None:
        argv += ["--stats", str(stats)]
    fake_agents.main(argv)


def _enroll(lab: LabDir, url: str, driver: str, token: str | None) -> None:
    started = time.monotonic()
    try:
        done = asyncio.run(enrollment.enroll(lab, url, driver, token=token, progress=_say))
    except httpx.HTTPError as exc:
        raise LabError(f"cannot reach {url}: {exc}") from None
    _say(f"enrolled {len(done.created)} node(s) with driver {driver} and {done.ports} port(s), "
         f"{len(done.skipped)} already there, in {time.monotonic() - started:.1f}s")  # fmt: skip


def main() -> None:
    lab_app(prog_name="python -m barecloud.lab")
