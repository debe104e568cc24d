"""Hypervisor hosts: enrol one (and mint its agent's credential), drain, remove.

A host enrolled as it is gets its credential (host_credentials.py) in the
answer to the create, once (docs/design/host-agent-protocol.md).  A host is
removed only once it is disabled and runs nothing: a removal with VMs on it
is refused, as Nova refuses to delete a compute service that still has
instances; a host that was a node is undeployed (then cleaned).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy import delete as sql_delete

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.errors import Conflict, NotFound, Unauthorized
from barecloud.services import policy
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.compute import host_credentials, hypervisor_nodes
from barecloud.services.compute.hypervisors import DEFAULT_ZONE
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.tenancy import project_of

BAD_CREDENTIAL = "The host agent's credential is not valid."
# Built once: every host agent request is authenticated with it.
_BY_UUID = select(Hypervisor).where(Hypervisor.uuid == bindparam("uuid"))


@dataclass
class Enrolled:
    hypervisor: Hypervisor
    credential: str


async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> Enrolled:
    """``data`` is host_schemas.CREATE_HYPERVISOR's ``hypervisor``, with ``hostname``."""
    policy.authorize(ctx, "compute:hypervisors:create")
    row = Hypervisor(hostname=data["hostname"], owner=data.get("owner"),
                     availability_zone=data.get("availability_zone") or DEFAULT_ZONE,
                     enabled=True)
    async with rt.db.session() as s:
        credential = await host_credentials.enrol(s, row)
    return Enrolled(row, credential)


async def authenticate(rt: Runtime, credential: str | None) -> Hypervisor:
    """The hypervisor a host agent's credential names, or Unauthorized."""
    parts = (credential or "").split(".", 2)
    if len(parts) != 3 or parts[0] != host_credentials.PREFIX or not UUID_RE.match(parts[1]):
        raise Unauthorized(BAD_CREDENTIAL)
    async with rt.db.session() as s:
        row = await s.scalar(_BY_UUID, {"uuid": parts[1].lower()})
    if row is None or row.credential_hash is None or not hmac.compare_digest(
            row.credential_hash, host_credentials.digest(parts[2])):
        raise Unauthorized(BAD_CREDENTIAL)
    return row


def _ident(ident: str) -> Any:
    if UUID_RE.match(ident):
        return Hypervisor.uuid == ident.lower()
    return Hypervisor.hostname == ident


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Hypervisor:
    """An operator sees every host; a project its own (others are not found)."""
    everyone = policy.can(ctx, "compute:hypervisors:show")
    project = project_of(ctx)
    if not everyone:
        policy.authorize(ctx, "compute:hypervisors:show_owned", {"project_id": project})
    async with rt.db.session() as s:
        row = await s.scalar(select(Hypervisor).where(_ident(ident)))
    if row is None or not (everyone or row.owner == project):
        raise NotFound(f"Hypervisor {ident} could not be found.")
    return row


async def list_all(rt: Runtime, ctx: RequestContext) -> list[Hypervisor]:
    """Every host for an operator; a project's own for its members."""
    query = select(Hypervisor).order_by(Hypervisor.id)
    if not policy.can(ctx, "compute:hypervisors:list"):
        project = project_of(ctx)
        policy.authorize(ctx, "compute:hypervisors:show_owned", {"project_id": project})
        query = query.where(Hypervisor.owner == project)
    async with rt.db.session() as s:
        return list((await s.scalars(query)).all())


async def set_enabled(rt: Runtime, ctx: RequestContext, ident: str, enabled: bool,
                      reason: str | None) -> Hypervisor:
    """Disable (drain: no new VMs, those there stay) or enable a host."""
    policy.authorize(ctx, "compute:hypervisors:update")
    row = await get(rt, ctx, ident)
    async with rt.db.session() as s:
        await s.execute(update(Hypervisor).where(Hypervisor.id == row.id)
                        .values(enabled=enabled, disabled_reason=None if enabled else reason))
    return await get(rt, ctx, ident)


async def vms_on(rt: Runtime, hypervisor_id: int) -> int:
    async with rt.db.session() as s:
        return int(await s.scalar(select(func.count(Server.id)).where(
            Server.hypervisor_id == hypervisor_id, Server.deleted.is_(False))) or 0)


async def revoke(rt: Runtime, ctx: RequestContext, ident: str) -> Enrolled:
    """A new credential for the host; the old one stops working at once."""
    policy.authorize(ctx, "compute:hypervisors:update")
    row = await get(rt, ctx, ident)
    credential, hashed = host_credentials.mint(row.uuid)
    async with rt.db.session() as s:
        await s.execute(update(Hypervisor).where(Hypervisor.id == row.id)
                        .values(credential_hash=hashed))
    return Enrolled(await get(rt, ctx, ident), credential)


async def delete(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Remove a drained host that runs no VM; 409 otherwise, nothing changed."""
    policy.authorize(ctx, "compute:hypervisors:delete")
    row = await get(rt, ctx, ident)
    if row.enabled:
        raise Conflict(f"Hypervisor {row.hostname} is enabled: disable it first, so that "
                       "no VM is placed on it meanwhile.")
    count = await vms_on(rt, row.id)
    if count:
        raise Conflict(f"Hypervisor {row.hostname} still runs {count} instance(s): "
                       "delete or move them first.")
    await hypervisor_nodes.undeploy(rt, row)
    async with rt.db.session() as s:
        # One statement: a VM placed between a count and a delete cannot be orphaned.
        busy = select(Server.id).where(Server.hypervisor_id == row.id,
                                       Server.deleted.is_(False)).exists()
        gone = await s.execute(
            sql_delete(Hypervisor).where(Hypervisor.id == row.id, ~busy))
        if not gone.rowcount:  # type: ignore[attr-defined]
            count = int(await s.scalar(select(func.count(Server.id)).where(
                Server.hypervisor_id == row.id, Server.deleted.is_(False))) or 0)
            raise Conflict(f"Hypervisor {row.hostname} still runs {count} instance(s): "
                           "delete or move them first.")

