"""A server's security groups: those of its Neutron ports, as Nova shows and sets them.

Nova keeps no groups of its own: ``security_groups`` at create names the
groups of the ports it makes, ``addSecurityGroup``/``removeSecurityGroup``
change every port of the server, and a server shows one ``{"name": ...}``
per group of each port (a group of two ports shows twice, as Nova's does).
Bare metal and VMs alike: the ports are the server's either way.

A name is looked up as Nova does, among the project's own groups, by name
then by id (two of the project's groups with that name: 409).  Here a group
shared with the project (a firewall profile, docs/design/security-groups.md)
is found too when the project has none of that name: that is what
``server create --security-group web`` means to its users.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import NetworkPort, PortSecurityGroup, SecurityGroup
from barecloud.errors import Conflict, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.compute.queries import find
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import security_groups as groups_service


class _Missing(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


async def _lookup(s: AsyncSession, ctx: RequestContext, project: str, name: str) -> str:
    own = (await s.execute(select(SecurityGroup.id, SecurityGroup.name).where(
        SecurityGroup.project_id == project))).all()
    named = [g for g, n in own if n == name]
    if len(named) > 1:
        raise Conflict(f"Multiple security groups found matching '{name}'. Use an ID to "
                       "be more specific.")
    if named:
        return str(named[0])
    if any(g == name for g, _ in own):
        return name
    shared = (await s.execute(select(SecurityGroup.id, SecurityGroup.name).where(
        SecurityGroup.project_id != project, groups_service.shared_with(ctx),
        (SecurityGroup.name == name) | (SecurityGroup.id == name)))).all()
    by_name = [g for g, n in shared if n == name]
    if len(by_name) > 1:
        raise Conflict(f"Multiple security groups found matching '{name}'. Use an ID to "
                       "be more specific.")
    found = by_name or [g for g, _ in shared]
    if not found:
        raise _Missing(name)
    return str(found[0])


async def resolve(rt: Runtime, ctx: RequestContext, project: str,
                  requested: list[dict[str, Any]] | None) -> list[str] | None:
    """The ids of a create's ``security_groups`` (None: not given, the default group);
    Nova's 400 for a group not found."""
    if not requested:
        return None
    names = list(dict.fromkeys(str(g["name"]) for g in requested if g.get("name")))
    if not names:
        return None
    await groups_service.ensure_default(rt.db, project)
    async with rt.db.session() as s:
        try:
            return list(dict.fromkeys([await _lookup(s, ctx, project, n) for n in names]))
        except _Missing as exc:
            raise InvalidParameter(f"Security group {exc.name} not found.") from None


def _name(args: Any, action: str) -> str:
    if not isinstance(args, dict):
        raise InvalidParameter("Missing parameter dict")
    if "name" not in args:
        raise InvalidParameter("Security group not specified")
    name = args["name"]
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter("Security group name cannot be empty")
    return name.strip()


async def add(rt: Runtime, ctx: RequestContext, server_id: str, args: Any) -> None:
    """``addSecurityGroup``: every port of the server in the group too."""
    await _change(rt, ctx, server_id, _name(args, "addSecurityGroup"), add=True)


async def remove(rt: Runtime, ctx: RequestContext, server_id: str, args: Any) -> None:
    """``removeSecurityGroup``: the group taken off every port of the server."""
    await _change(rt, ctx, server_id, _name(args, "removeSecurityGroup"), add=False)


async def _change(rt: Runtime, ctx: RequestContext, server_id: str, name: str,
                  add: bool) -> None:
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
    policy.authorize(ctx, "compute:servers:action", {"project_id": server.project_id})
    project = server.project_id
    await groups_service.ensure_default(rt.db, project)
    async with rt.db.session() as s:
        try:
            group = await _lookup(s, ctx, project, name)
        except _Missing:
            raise NotFound(f"Security group {name} is not found for project "
                           f"{project}") from None
        ports = list((await s.scalars(select(NetworkPort).where(
            NetworkPort.device_id == server.uuid).order_by(NetworkPort.id)
            .with_for_update())).all())
        if not ports:
            raise NotFound(f"instance_id {server.uuid} could not be found as device id on "
                           "any ports")
        if add and any(not p.port_security_enabled for p in ports):
            raise InvalidParameter("Network requires port_security_enabled and subnet "
                                   "associated in order to apply security groups.")
        members = await _groups_of(s, [p.id for p in ports])
        if not add and not any(group in members.get(p.id, []) for p in ports):
            raise NotFound(f"Security group {name} not associated with the instance "
                           f"{server.uuid}")
        for port in ports:
            now = members.get(port.id, [])
            wanted = ([*now, group] if group not in now else now) if add else [
                g for g in now if g != group]
            if wanted != now:
                await groups_service.set_port_groups(s, port.id, wanted)
                port.revision_number += 1
    groups_service.changed()


async def _groups_of(s: AsyncSession, port_ids: list[str]) -> dict[str, list[str]]:
    rows = (await s.execute(select(PortSecurityGroup.port_id,
                                   PortSecurityGroup.security_group_id)
                            .where(PortSecurityGroup.port_id.in_(port_ids)))).all()
    out: dict[str, list[str]] = {}
    for port_id, group_id in rows:
        out.setdefault(port_id, []).append(group_id)
    return out

