"""``barecloud hypervisor``: machines turned into hypervisors, and back.

One command deploys many machines as hypervisors (one deploy batch) and
waits for their host agents to report; ``delete`` drains a host first and
is refused, by the service, while VMs remain.  Over the Compute API's
``/barecloud-hypervisors`` (docs/design/vms.md).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer

from barecloud.cli import service
from barecloud.cli.service import CloudOpt, ServiceUrlOpt, TokenOpt

hypervisor_app = typer.Typer(no_args_is_help=True,
                             help="Hypervisors: machines that run VMs.")
NOVA = {"OpenStack-API-Version": "compute 2.96"}


def _compute(url: str | None, token: str | None, cloud: str | None) -> httpx.Client:
    return service.client(service.service_url(url, cloud), token, cloud,
                          prefix="/compute/v2.1", headers=NOVA)


def _row(h: dict[str, Any]) -> str:
    return (f"{h['hostname']:<20} {h['id']}  {h['state']:<5} {h['status']:<8} "
            f"vcpus {h['vcpus_used']}/{h['vcpus']}  ram {h['memory_mb_used']}/"
            f"{h['memory_mb']} MB  vms {h['running_vms']}"
            + (f"  node {h['node_uuid']}" if h.get("node_uuid") else ""))


@hypervisor_app.command("create")
def create(
    nodes: Annotated[list[str], typer.Argument(help="The nodes (names or UUIDs).")],
    zone: Annotated[str | None, typer.Option("--availability-zone",
                                             help="Their zone (default: the node's).")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until every host agent reports.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait.")] = 1800,
    url: ServiceUrlOpt = None, token: TokenOpt = None, cloud: CloudOpt = None,
) -> None:
    """Deploy the nodes as hypervisors (one batch); their credentials go in their config
    drives."""
    body: dict[str, Any] = {"nodes": nodes}
    if zone:
        body["availability_zone"] = zone
    with _compute(url, token, cloud) as client:
        made = service.ok(client.post("/barecloud-hypervisors",
                                      json={"hypervisor": body}))["hypervisors"]
        for h in made:
            typer.echo(f"hypervisor {h['hostname']} ({h['id']}): deploying node "
                       f"{h['node_uuid']}")
        deadline = time.monotonic() + timeout
        pending = {h["id"] for h in made}
        while wait and pending:
            if time.monotonic() > deadline:
                typer.echo(f"error: {len(pending)} host agent(s) not reporting after "
                           f"{timeout:.0f} s", err=True)
                raise typer.Exit(1)
            time.sleep(2)
            for ident in sorted(pending):
                h = service.ok(client.get(f"/barecloud-hypervisors/{ident}"))["hypervisor"]
                if h["state"] == "up":
                    pending.discard(ident)
                    typer.echo(f"hypervisor {h['hostname']} is up: {h['vcpus']} vCPUs, "
                               f"{h['memory_mb']} MB, {h['local_gb']} GB")


@hypervisor_app.command("list")
def list_cmd(url: ServiceUrlOpt = None, token: TokenOpt = None,
             cloud: CloudOpt = None) -> None:
    """Every hypervisor with its state and usage."""
    with _compute(url, token, cloud) as client:
        hosts = service.ok(client.get("/barecloud-hypervisors"))["hypervisors"]
    for h in hosts:
        typer.echo(_row(h))


@hypervisor_app.command("delete")
def delete(
    hypervisor: Annotated[str, typer.Argument(help="Hostname or id.")],
    url: ServiceUrlOpt = None, token: TokenOpt = None, cloud: CloudOpt = None,
) -> None:
    """Drain the host (no new VMs) and remove it: refused while VMs remain; a host that
    was a node is undeployed and cleaned."""
    with _compute(url, token, cloud) as client:
        service.ok(client.put(f"/barecloud-hypervisors/{hypervisor}", json={
            "hypervisor": {"status": "disabled", "disabled_reason": "being removed"}}))
        service.ok(client.delete(f"/barecloud-hypervisors/{hypervisor}"))
    typer.echo(f"hypervisor {hypervisor} removed")
