"""``barecloud``: run the service, migrate the database, and operator tools.

The ``openstack`` CLI covers day-to-day resource work; these commands cover
what it does not: running the processes, a fleet overview, bulk enrollment
and bulk actions with progress.  The command is a client: the server-side
commands (``serve``, ``api``, ``conductor``, ``db upgrade``, ``secrets
rotate``) parse their options here and run in :mod:`barecloud.startup`; the
others talk to the service over HTTP.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import typer
import yaml

from barecloud import states
from barecloud.cli import service
from barecloud.cli.hypervisors import hypervisor_app
from barecloud.cli.lab import lab_app
from barecloud.cli.service import CloudOpt, ServiceUrlOpt, TokenOpt
from barecloud.config import Settings
from barecloud.config import load_settings as _load_settings

if TYPE_CHECKING:  # the service's modules load only for the commands that start it
    from barecloud.startup.launch import Serving

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="barecloud: lease and provision physical machines.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
secrets_app = typer.Typer(no_args_is_help=True, help="The keys BMC passwords are sealed with.")
app.add_typer(secrets_app, name="secrets")
app.add_typer(lab_app, name="lab")
app.add_typer(hypervisor_app, name="hypervisor")

HostOpt = Annotated[str | None, typer.Option(help="Address to listen on.")]
PortOpt = Annotated[int | None, typer.Option(help="Port to listen on.")]
DataOpt = Annotated[Path | None, typer.Option("--data-dir", help="Where state is kept.")]


def load_settings(**overrides: Any) -> Settings:
    """The settings, or a one-line error per bad one (not a traceback)."""
    from pydantic import ValidationError

    try:
        return _load_settings(**overrides)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            typer.echo(f"error: {where}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A server-side command that may not run here or now: one line, exit status 2."""
    from barecloud.startup.guards import Refused

    try:
        yield
    except Refused as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    data_dir: DataOpt = None,
    lab: Annotated[int, typer.Option(
        help="Start a loopback lab of N machines with IPMI and Redfish BMCs, enroll them "
        "(driver ipmi) and make them available.")] = 0,
    netns: Annotated[bool, typer.Option(
        "--netns", help="With --lab: each machine in its own network namespace behind a lab "
        "switch, booted over real DHCP, with tenant networks (root).")] = False,
    rate: Annotated[str | None, typer.Option(
        help="With --netns: shape every lab cable with tc tbf, e.g. 200mbit.")] = None,
    hypervisors: Annotated[int, typer.Option(
        help="With --netns: deploy K of the lab's machines as hypervisors (the host agent "
        "runs in their namespaces, VMs are QEMU under TCG there), for the vm.tiny flavor "
        "and the barecloud-tiny image.", min=0)] = 0,
    switch: Annotated[str | None, typer.Option(
        help="With --netns: the lab switch, linux-bridge (default) or openvswitch (access "
        "VLANs, sFlow to barecloud's flow collector: top-talkers --by flow).")] = None,
) -> None:
    """The all-in-one service: every API, the conductor and the boot server on one port."""
    # Imported before logging is set up: alembic logs its plugins at import.
    from barecloud.startup import launch

    settings = load_settings(host=host, port=port, data_dir=data_dir)
    if netns and not lab:
        raise typer.BadParameter("--netns goes with --lab N")
    if hypervisors and not netns:
        raise typer.BadParameter("--hypervisors goes with --lab N --netns")
    if switch and not netns:
        raise typer.BadParameter("--switch goes with --lab N --netns")
    if hypervisors > lab:
        raise typer.BadParameter(f"--hypervisors {hypervisors} is more than the lab's "
                                 f"{lab} machines")

    def announce(serving: launch.Serving) -> None:
        _announce(serving, netns)

    with _refusals():
        launch.serve(settings, lab, netns, rate, announce, hypervisors=hypervisors,
                     switch=switch)


def _announce(serving: Serving, netns: bool) -> None:
    """What ``serve`` prints once the service answers."""
    from barecloud.startup.guards import safe_url

    settings, clouds, lab = serving.settings, serving.clouds_yaml, serving.lab
    if lab is not None:
        typer.echo(f"lab: {lab['machines']} machines with IPMI and Redfish BMCs in "
                   f"{lab['lab_dir']} (barecloud lab status --lab-dir {lab['lab_dir']})")
        if lab.get("created"):
            typer.echo(f"created {', '.join(lab['created'])}")
        if lab.get("hypervisors"):
            typer.echo(f"hypervisors: {', '.join(lab['hypervisors'])} (openstack hypervisor "
                       "list; VMs run in their namespaces)")
    typer.echo(
        f"barecloud is serving at {settings.base_url}\n"
        f"  Identity API:   {settings.base_url}/identity\n"
        f"  Bare Metal API: {settings.base_url}/baremetal\n"
        f"  database:       {safe_url(settings.effective_database_url)}\n"
        f"  clouds.yaml:    {clouds}\n"
        f"Try:\n"
        f"  export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD={serving.cloud}\n"
        f"  openstack baremetal node list\n"
        + ("  openstack --os-cloud barecloud network create net1\n"
           "  openstack --os-cloud barecloud subnet create --network net1 "
           "--subnet-range 10.60.0.0/24 sub1\n" if netns else "")
        + ("  openstack --os-cloud barecloud server create --flavor bm.baremetal "
           "--image barecloud-demo " + ("--network net1 " if netns else "")
           + "--wait demo-1\n" if lab is not None else "")
        + ("  openstack --os-cloud barecloud server create --flavor vm.tiny "
           "--image barecloud-tiny --network net1 --wait vm-1\n"
           if lab is not None and lab.get("hypervisors") else "")
        + "Stop with Ctrl-C."
    )


@app.command("api")
def api_cmd(host: HostOpt = None, port: PortOpt = None, data_dir: DataOpt = None) -> None:
    """Only the HTTP APIs (scale-out: run conductors separately over PostgreSQL)."""
    from barecloud.startup import launch

    settings = load_settings(host=host, port=port, data_dir=data_dir)
    with _refusals():
        launch.api(settings)


@app.command("conductor")
def conductor_cmd(
    data_dir: DataOpt = None,
    name: Annotated[str | None, typer.Option(help="This conductor's name.")] = None,
) -> None:
    """Only the conductor: runs workflows and reconcilers for its share of the nodes."""
    from barecloud.startup import launch

    settings = load_settings(data_dir=data_dir, conductor_name=name)
    with _refusals():
        launch.conductor(settings)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataOpt = None,
               revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Bring the database schema up to date."""
    from barecloud.startup import admin
    from barecloud.startup.guards import safe_url

    settings = load_settings(data_dir=data_dir)
    with _refusals():
        admin.upgrade_database(settings, revision)
    typer.echo(f"database at {safe_url(settings.effective_database_url)} is at {revision}")


@secrets_app.command("rotate")
def secrets_rotate(data_dir: DataOpt = None) -> None:
    """Seal every secret of the database with a new key and retire the old ones."""
    from barecloud.startup import admin

    settings = load_settings(data_dir=data_dir)
    with _refusals():
        done = admin.rotate_secrets(settings)
    typer.echo(f"key {done.new} seals now ({done.resealed} row(s) resealed); retired key(s) "
               f"{', '.join(map(str, done.retired)) or '-'} from {done.key_dir}")


# --- operator tools over the API -------------------------------------------
def _all_nodes(client: httpx.Client) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        page = service.ok(client.get("/nodes/detail", params=params))
        nodes.extend(page["nodes"])
        if "next" not in page or not page["nodes"]:
            return nodes
        params["marker"] = page["nodes"][-1]["uuid"]


@app.command("console")
def console_cmd(
    server: Annotated[str, typer.Argument(help="The server (name or id).")],
    url: ServiceUrlOpt = None, token: TokenOpt = None, cloud: CloudOpt = None,
    linger: Annotated[float, typer.Option(
        help="From a pipe: seconds to keep printing after the input ends.")] = 1.0,
) -> None:
    """Attach this terminal to a server's serial console (~. leaves)."""
    from barecloud.cli import console

    address = console.console_url(service.service_url(url, cloud), token, cloud, server)
    raise typer.Exit(console.attach(address, linger=linger))


@app.command("top-talkers")
def top_talkers(
    url: ServiceUrlOpt = None,
    token: TokenOpt = None, cloud: CloudOpt = None,
    switch: Annotated[str | None, typer.Option(help="Only this switch.")] = None,
    port: Annotated[str | None, typer.Option(
        help="Only this switch port (with --by flow: flows in or out of it).")] = None,
    minutes: Annotated[float, typer.Option(help="The window: the last N minutes.")] = 5,
    limit: Annotated[int, typer.Option(help="How many ports or flows.")] = 10,
    sort: Annotated[str, typer.Option(
        help="Ports: rank by what machines sent, received, or the total.")] = "sent",
    by: Annotated[str, typer.Option(
        help="port: switch port counters; flow: the flows sFlow sampled, with their "
             "tenants and the estimate's error.")] = "port",
) -> None:
    """Which tenant's machines (or flows) move the most bytes through the switches lately."""
    url = service.service_url(url, cloud)
    params: dict[str, Any] = {"minutes": minutes, "limit": limit, "by": by}
    if by != "flow":
        params["sort"] = sort
    for key, value in (("switch", switch), ("port", port)):
        if value:
            params[key] = value
    with service.client(url, token, cloud) as client:
        rows = service.ok(client.get(f"{url.rstrip('/')}/network/v2.0/barecloud-top-talkers",
                              params=params))["top_talkers"]
    if not rows:
        what = "flow sampled" if by == "flow" else "traffic counted"
        typer.echo(f"no {what} in the last {minutes:g} minutes")
        return
    if by == "flow":
        _flow_table(rows)
        return
    table = [("switch", "port", "project", "server", "network", "sent", "received", "Mbit/s")]
    table += [(r["switch"], r["port"], r["project_name"] or r["project_id"] or "-",
               r["server_name"] or r["server_id"] or "-",
               r["network_name"] or r["network_id"] or "-", _size(r["rx_bytes"]),
               _size(r["tx_bytes"]), f"{r['bits_per_second'] / 1e6:.1f}") for r in rows]
    _print_table(table, left=5)


def _endpoint(ip: str | None, port: int | None, protocol: Any) -> str:
    if ip is None:
        return "-"
    host = f"[{ip}]" if ":" in ip else ip
    return f"{host}:{port}" if port is not None and protocol in ("tcp", "udp") else host


def _who(end: dict[str, Any]) -> str:
    project = end["project_name"] or end["project_id"]
    server = end["server_name"] or end["server_id"]
    return "/".join(x for x in (project, server) if x) or "-"


def _flow_table(rows: list[dict[str, Any]]) -> None:
    table = [("switch", "in", "out", "proto", "source", "destination", "from", "to",
              "bytes (est.)", "±95%", "Mbit/s")]
    table += [(r["switch"], r["in_port"] or "-", r["out_port"] or "-",
               str(r["protocol"] or "-"),
               _endpoint(r["src_ip"], r["src_port"], r["protocol"]),
               _endpoint(r["dst_ip"], r["dst_port"], r["protocol"]),
               _who(r["source"]), _who(r["destination"]), _size(r["bytes"]),
               f"{r['error_percent']:.0f}%", f"{r['bits_per_second'] / 1e6:.1f}")
              for r in rows]
    _print_table(table, left=8)


def _print_table(table: Sequence[tuple[str, ...]], left: int) -> None:
    """Columns padded to their widest cell: the first ``left`` to the left, numbers right."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        typer.echo("  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths, strict=True))))


@app.command("calendar")
def calendar_cmd(
    url: ServiceUrlOpt = None, token: TokenOpt = None, cloud: CloudOpt = None,
    days: Annotated[int, typer.Option(min=1, help="How many days to show.")] = 7,
    start: Annotated[str | None, typer.Option(
        help='The first instant shown, "YYYY-MM-DD HH:MM" UTC (default: now, as the '
             "service's lease clock says).")] = None,
    width: Annotated[int, typer.Option(min=8, help="Columns of time slots.")] = 84,
) -> None:
    """Who holds which machine when: the lease calendar as a text Gantt."""
    import datetime as dt

    from barecloud.cli import gantt

    url = service.service_url(url, cloud)
    path = f"{url.rstrip('/')}/reservation/v1/barecloud-calendar"
    with service.client(url, token, cloud) as client:
        if start is None:
            # The window starts at the service's now (its lease clock, not ours).
            start = service.ok(client.get(path, params={"start": "now", "end": "now"}))["now"]
        try:
            begin = dt.datetime.fromisoformat(start.strip())
        except ValueError:
            typer.echo(f'error: --start {start!r} is not "YYYY-MM-DD HH:MM"', err=True)
            raise typer.Exit(2) from None
        if begin.tzinfo is not None:
            begin = begin.astimezone(dt.UTC).replace(tzinfo=None)
        finish = begin + dt.timedelta(days=days)
        body = service.ok(client.get(path, params={"start": f"{begin:%Y-%m-%d %H:%M:%S.%f}",
                                            "end": f"{finish:%Y-%m-%d %H:%M:%S.%f}"}))
    for line in gantt.render(body, width):
        typer.echo(line)


@app.command("deploy")
def deploy_cmd(
    image: Annotated[str, typer.Argument(help="Image name or id (Image API), or an http(s) "
                                              "URL.")],
    nodes: Annotated[list[str], typer.Argument(help="The nodes (names or UUIDs).")],
    url: ServiceUrlOpt = None, token: TokenOpt = None, cloud: CloudOpt = None,
    delivery: Annotated[str | None, typer.Option(
        help="chain (agents pass the image on) or http (each from the image server); "
             "default: the service's deploy_batch_delivery.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the batch to end and report.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 3600,
) -> None:
    """Deploy one image to many nodes as one batch; report OK and KO per machine."""
    from barecloud.cli import batch_report

    url = service.service_url(url, cloud)
    with service.client(url, token, cloud) as client:
        body: dict[str, Any] = {"nodes": nodes, "image_source": _image_ref(client, url, image)}
        if delivery:
            body["delivery"] = delivery
        batch = service.ok(client.post("/barecloud-deploy-batches", json=body))
        typer.echo(f"batch {batch['uuid']}: {batch['delivery']} to {len(nodes)} node(s)")
        deadline = time.monotonic() + timeout
        while wait and batch["state"] != "done" and time.monotonic() < deadline:
            time.sleep(2)
            batch = service.ok(client.get(f"/barecloud-deploy-batches/{batch['uuid']}"))
    for line in batch_report.render(batch):
        typer.echo(line)
    if wait and (batch["ko"] or batch["state"] != "done"):
        raise typer.Exit(1)


@app.command("deploy-report")
def deploy_report_cmd(
    batch: Annotated[str, typer.Argument(help="The batch's id (a multi-create's "
                                              "reservation_id, r-...).")],
    url: ServiceUrlOpt = None, token: TokenOpt = None, cloud: CloudOpt = None,
) -> None:
    """A deploy batch's report: per machine, its place in the chain, OK or KO and why."""
    from barecloud.cli import batch_report

    with service.client(service.service_url(url, cloud), token, cloud) as client:
        body = service.ok(client.get(f"/barecloud-deploy-batches/{batch}"))
    for line in batch_report.render(body):
        typer.echo(line)


def _image_ref(client: httpx.Client, url: str, image: str) -> str:
    """An image name becomes its id; ids and URLs are passed as they are."""
    if image.startswith(("http://", "https://")) or re.fullmatch(r"[0-9a-f-]{36}", image):
        return image
    found = service.ok(client.get(f"{url.rstrip('/')}/image/v2/images", params={"name": image}))
    ids = [i["id"] for i in found.get("images", [])]
    if len(ids) != 1:
        typer.echo(f"error: {len(ids)} images are named {image!r}", err=True)
        raise typer.Exit(1)
    return str(ids[0])


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value, unit = float(n) / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}"


@app.command()
def status(url: ServiceUrlOpt = None, token: TokenOpt = None,
           cloud: CloudOpt = None) -> None:
    """The fleet at a glance: nodes per state, in maintenance, locked, with errors."""
    with service.client(service.service_url(url, cloud), token, cloud) as client:
        nodes = _all_nodes(client)
        conductors = service.ok(client.get("/conductors"))["conductors"]
    by_state: dict[str, int] = {}
    for n in nodes:
        by_state[n["provision_state"]] = by_state.get(n["provision_state"], 0) + 1
    typer.echo(f"{len(nodes)} nodes, {len(conductors)} conductor(s): "
               + ", ".join(c["hostname"] for c in conductors))
    for state in sorted(by_state, key=lambda s: -by_state[s]):
        typer.echo(f"  {state:<16} {by_state[state]:>6}")
    maint = [n for n in nodes if n["maintenance"]]
    locked = [n for n in nodes if n["reservation"]]
    failed = [n for n in nodes if n["last_error"]]
    typer.echo(f"  in maintenance   {len(maint):>6}")
    typer.echo(f"  busy (locked)    {len(locked):>6}")
    typer.echo(f"  with last_error  {len(failed):>6}")
    for n in failed[:10]:
        typer.echo(f"    {n['name'] or n['uuid']}: {n['last_error']}")


@app.command()
def enroll(
    file: Annotated[Path, typer.Argument(help="YAML or JSON: a list of nodes, each with "
                                         "optional 'ports' (MACs) and 'traits'.")],
    url: ServiceUrlOpt = None,
    manage: Annotated[bool, typer.Option(help="Verify each node (enroll -> manageable).")]
    = False,
    token: TokenOpt = None,
    cloud: CloudOpt = None,
) -> None:
    """Enroll many machines at once, with a progress bar."""
    specs = yaml.safe_load(file.read_text())
    if isinstance(specs, dict):
        specs = specs.get("nodes", [])
    if not isinstance(specs, list):
        typer.echo("expected a list of nodes", err=True)
        raise typer.Exit(2)
    with service.client(service.service_url(url, cloud), token, cloud) as client, \
            typer.progressbar(specs, label="enrolling") as bar:
        for spec in bar:
            spec = dict(spec)
            macs = spec.pop("ports", [])
            traits = spec.pop("traits", [])
            node = service.ok(client.post("/nodes", json=spec))
            for mac in macs:
                port = mac if isinstance(mac, dict) else {"address": mac}
                service.ok(client.post("/ports", json={**port, "node_uuid": node["uuid"]}))
            if traits:
                service.ok(client.put(f"/nodes/{node['uuid']}/traits", json={"traits": traits}))
            if manage:
                service.ok(client.put(f"/nodes/{node['uuid']}/states/provision",
                               json={"target": "manage"}))
    typer.echo(f"enrolled {len(specs)} node(s)")


@app.command()
def bulk(
    verb: Annotated[str, typer.Argument(help="A provision verb: manage, provide, active, "
                                        "deleted, clean, inspect, ...")],
    nodes: Annotated[list[str], typer.Argument(help="Node names or UUIDs; 'all' for every "
                                               "node in a state the verb accepts.")],
    url: ServiceUrlOpt = None,
    wait: Annotated[bool, typer.Option(help="Wait and show progress until all settle.")]
    = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 3600,
    token: TokenOpt = None,
    cloud: CloudOpt = None,
) -> None:
    """Start one provision action on many nodes and follow them to the end."""
    if verb not in states.VERB_EVENTS:
        typer.echo(f"unknown verb {verb}", err=True)
        raise typer.Exit(2)
    event = states.VERB_EVENTS[verb]
    with service.client(service.service_url(url, cloud), token, cloud) as client:
        if nodes == ["all"]:
            nodes = [n["uuid"] for n in _all_nodes(client)
                     if states.next_state(n["provision_state"], event)
                     or (event == "deploy" and n["provision_state"] == states.ACTIVE)]
        started: list[str] = []
        for ident in nodes:
            r = client.put(f"/nodes/{ident}/states/provision", json={"target": verb})
            if r.status_code == 202:
                started.append(ident)
            else:
                service.ok(r)
        typer.echo(f"{verb}: started on {len(started)} node(s)")
        if wait and started:
            _follow(client, started, timeout)


def _follow(client: httpx.Client, idents: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(idents)
    failed: dict[str, str] = {}
    with typer.progressbar(length=len(idents), label="working") as bar:
        while pending and time.monotonic() < deadline:
            for ident in list(pending):
                n = service.ok(client.get(f"/nodes/{ident}/states"))
                if n["target_provision_state"] is None:
                    pending.discard(ident)
                    bar.update(1)
                    if n["provision_state"] in (states.DEPLOYFAIL, states.CLEANFAIL,
                                                states.INSPECTFAIL, states.ERROR,
                                                states.RESCUEFAIL, states.ENROLL) and \
                            n["last_error"]:
                        failed[ident] = f"{n['provision_state']}: {n['last_error']}"
            if pending:
                time.sleep(0.5)
    for ident, why in failed.items():
        typer.echo(f"  FAILED {ident}: {why}")
    if pending:
        typer.echo(f"  {len(pending)} node(s) still working after {timeout:.0f}s")
    typer.echo(f"done: {len(idents) - len(failed) - len(pending)} ok, {len(failed)} failed")
    if failed or pending:
        raise typer.Exit(1)


@app.command("host-agent", add_help_option=False, context_settings={
    "allow_extra_args": True, "ignore_unknown_options": True})
def host_agent(ctx: typer.Context) -> None:
    """Run on a hypervisor: report it, run its VMs (`barecloud host-agent --help`)."""
    from barecloud.hostagent.cli import main as host_agent_main

    raise typer.Exit(host_agent_main(ctx.args))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

