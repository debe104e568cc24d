"""Security groups in Nova's own format: a server's, and the proxies Nova ended at 2.36.

Nova keeps no groups; it asks Neutron, as the caller, for the groups of the
server's ports and converts each (nova/network/security_group_api.py):
``tenant_id`` for the project, and only the **ingress** rules, each as
``ip_protocol``, ``from_port``/``to_port`` (1-65535 for TCP/UDP and -1 for
the rest when the rule names a protocol but no ports), and either ``group``
(the remote group's ``name`` and ``tenant_id``) or ``ip_range`` (``cidr``,
0.0.0.0/0 when the rule has no prefix).  A group the caller cannot see is
left out, as is a rule whose remote group the caller cannot see.  One entry
per group of each port (a group of two ports twice), sorted by
(``tenant_id``, ``name``): Nova's.

The proxies (``/os-security-groups``, ``/os-security-group-rules``, below
2.36 only) do what Nova does with Neutron's API here, through the same
services as Neutron's API, and turn Neutron's refusals into Nova's statuses:
a create's 409 (quota, a second ``default``) is 403, a delete's 409 (in use)
is 400, as Nova's ``security_group_api`` maps them.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import (
    NetworkPort,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.compute.queries import find
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import security_groups as groups_service
from barecloud.services.tenancy import project_of

_ALL_PORTS = ("tcp", "udp")
PROXY_LAST = (2, 35)  # Nova's MAX_PROXY_API_SUPPORT_VERSION


def rule(row: SecurityGroupRule, remote: dict[str, dict[str, str]]) -> dict[str, Any] | None:
    """One ingress rule as Nova shows it; None for a remote group the caller cannot see."""
    lo, hi = row.port_range_min, row.port_range_max
    if row.protocol and lo is None and hi is None:
        lo, hi = (1, 65535) if row.protocol.lower() in _ALL_PORTS else (-1, -1)
    out: dict[str, Any] = {"id": row.id, "parent_group_id": row.security_group_id,
                           "ip_protocol": row.protocol, "from_port": lo, "to_port": hi,
                           "group": {}, "ip_range": {}}
    if row.remote_group_id:
        if row.remote_group_id not in remote:
            return None
        out["group"] = remote[row.remote_group_id]
    else:
        out["ip_range"] = {"cidr": row.remote_ip_prefix or "0.0.0.0/0"}
    return out


def group(row: SecurityGroup, rules: list[SecurityGroupRule],
          remote: dict[str, dict[str, str]]) -> dict[str, Any]:
    shown = [rule(r, remote) for r in rules if r.direction == "ingress"]
    return {"id": row.id, "description": row.description, "name": row.name,
            "tenant_id": row.project_id, "rules": [r for r in shown if r is not None]}


async def _shown(s: AsyncSession, ctx: RequestContext,
                 groups: list[SecurityGroup]) -> list[dict[str, Any]]:
    """``groups`` as Nova shows them, their rules' remote groups named if visible."""
    ids = {g.id for g in groups}
    rules: dict[str, list[SecurityGroupRule]] = {}
    for r in (await s.scalars(select(SecurityGroupRule).where(
            SecurityGroupRule.security_group_id.in_(ids))
            .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id))).all():
        rules.setdefault(r.security_group_id, []).append(r)
    wanted = {r.remote_group_id for rs in rules.values() for r in rs
              if r.remote_group_id and r.direction == "ingress"}
    remote = {g.id: {"name": g.name, "tenant_id": g.project_id} for g in groups}
    more = select(SecurityGroup.id, SecurityGroup.name, SecurityGroup.project_id).where(
        SecurityGroup.id.in_(wanted - set(remote)))
    seen = groups_service.visible(ctx)
    if seen is not None:
        more = more.where(seen)
    for gid, name, project in (await s.execute(more)).all():
        remote[gid] = {"name": name, "tenant_id": project}
    return [group(g, rules.get(g.id, []), remote) for g in groups]


def _sorted(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(groups, key=lambda g: (g["tenant_id"], g["name"]))


async def of_server(rt: Runtime, ctx: RequestContext, server_id: str) -> list[dict[str, Any]]:
    """The groups of the server's ports the caller sees, with their ingress rules."""
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
        policy.authorize(ctx, "compute:servers:security_groups:list",
                         {"project_id": server.project_id})
        q = (select(SecurityGroup)
             .join(PortSecurityGroup, PortSecurityGroup.security_group_id == SecurityGroup.id)
             .join(NetworkPort, NetworkPort.id == PortSecurityGroup.port_id)
             .where(NetworkPort.device_id == server.uuid)
             .order_by(NetworkPort.id, SecurityGroup.name))
        seen = groups_service.visible(ctx)
        if seen is not None:
            q = q.where(seen)
        return _sorted(await _shown(s, ctx, list((await s.scalars(q)).all())))


# --- the proxies (2.1 to 2.35) -----------------------------------------------------------
def proxied(version: tuple[int, int]) -> None:
    """Nova serves the proxies up to 2.35; at 2.36 and later they are not there."""
    if version > PROXY_LAST:
        raise NotFound("The resource could not be found.")


def group_id(value: str) -> str:
    if not UUID_RE.match(value):
        raise InvalidParameter("Security group id should be uuid")
    return value


async def _one(rt: Runtime, ctx: RequestContext, gid: str) -> dict[str, Any]:
    async with rt.db.session() as s:
        found = await groups_service.fetch(s, ctx, gid)
        [shown] = await _shown(s, ctx, [found])
    return shown


async def list_groups(rt: Runtime, ctx: RequestContext, all_tenants: bool,
                      limit: int | None, offset: int) -> list[dict[str, Any]]:
    """The project's own groups (every project's for an admin with ``all_tenants``),
    as Nova asks Neutron for them (``tenant_id``), ``offset``/``limit`` applied."""
    project = project_of(ctx)
    policy.authorize(ctx, "network:get_security_group")
    await groups_service.ensure_default(rt.db, project)
    q = select(SecurityGroup).order_by(SecurityGroup.project_id, SecurityGroup.name,
                                       SecurityGroup.id)
    if not (all_tenants and policy.can(ctx, "network:context_is_admin")):
        q = q.where(SecurityGroup.project_id == project)
    cap = rt.settings.api_max_limit
    q = q.offset(offset).limit(min(cap, limit or cap))
    async with rt.db.session() as s:
        return _sorted(await _shown(s, ctx, list((await s.scalars(q)).all())))


async def show(rt: Runtime, ctx: RequestContext, gid: str) -> dict[str, Any]:
    await groups_service.get(rt, ctx, group_id(gid))
    return await _one(rt, ctx, gid)


def _named(body: dict[str, Any]) -> dict[str, Any]:
    """A declared ``security_group`` body's two keys (Nova passes no others on)."""
    return {"name": body["name"], "description": body["description"]}


async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    try:
        made = await groups_service.create(rt, ctx, _named(body))
    except Conflict as exc:  # Neutron's 409: Nova's SecurityGroupLimitExceeded
        raise Forbidden(exc.message) from None
    return await _one(rt, ctx, made.id)


async def update(rt: Runtime, ctx: RequestContext, gid: str, body: dict[str, Any]
                 ) -> dict[str, Any]:
    await groups_service.get(rt, ctx, group_id(gid))
    try:
        await groups_service.update(rt, ctx, gid, _named(body))
    except Conflict as exc:  # renaming default: Nova has no answer of its own
        raise InvalidParameter(exc.message) from None
    return await _one(rt, ctx, gid)


async def delete(rt: Runtime, ctx: RequestContext, gid: str) -> None:
    try:
        await groups_service.remove(rt, ctx, group_id(gid))
    except Conflict as exc:  # in use, or default: Nova's Invalid
        raise InvalidParameter(exc.message) from None


def _int(value: Any, protocol: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        reason = ("Type and Code must be integers for ICMP protocol type"
                  if protocol.upper() == "ICMP" else "To and From ports must be integers")
        raise InvalidParameter(f"Invalid input received: {reason}") from None


def _cidr(value: Any) -> str:
    if not value:
        return "0.0.0.0/0"
    cidr = unquote(str(value))
    try:
        ipaddress.ip_network(cidr, strict=False)
        valid = cidr.partition("/")[2] != ""  # oslo's is_valid_cidr: a prefix length too
    except ValueError:
        valid = False
    if not valid:
        raise InvalidParameter(f"{value} is not a valid IP network.")
    return cidr


def _ports(protocol: str, lo: int, hi: int) -> None:
    upper = protocol.upper()
    if upper not in ("TCP", "UDP", "ICMP"):
        raise InvalidParameter(f"Invalid IP protocol {protocol}.")
    if upper != "ICMP" and lo > hi:
        raise InvalidParameter(f"Invalid port range {lo}:{hi}. Former value cannot be "
                               "greater than the later")
    if upper != "ICMP" and (lo < 1 or hi > 65535):
        raise InvalidParameter(f"Invalid port range {lo}:{hi}. Valid {upper} ports should be "
                               "between 1-65535")
    if upper == "ICMP" and not (-1 <= lo <= 255 and -1 <= hi <= 255):
        raise InvalidParameter(f"Invalid port range {lo}:{hi}. For ICMP, the type:code must "
                               "be valid")


def nova_rule(body: dict[str, Any]) -> dict[str, Any]:
    """Nova's ingress rule (``_new_ingress_rule``): a remote group's, or a CIDR's, which
    needs a protocol and both ports (else 400)."""
    remote, protocol = body.get("group_id"), body.get("ip_protocol")
    lo, hi = body.get("from_port"), body.get("to_port")
    rule: dict[str, Any] = {}
    if remote is not None:
        rule["group_id"] = str(remote)
        upper = str(protocol).upper() if protocol else ""
        if lo is None and hi is None:
            lo, hi = (-1, -1) if upper == "ICMP" else (1, 65535) if upper in _ALL_UPPER \
                else (None, None)
    else:
        rule["cidr"] = _cidr(body.get("cidr"))
        given = ipaddress.ip_interface(rule["cidr"])  # the address as written, not masked
        if str(given.ip) not in ("0.0.0.0", "::") and given.network.prefixlen == 0:
            raise InvalidParameter(f"Bad prefix for network in cidr {rule['cidr']}")
    if protocol and lo is not None and hi is not None:
        lo, hi = _int(lo, str(protocol)), _int(hi, str(protocol))
        _ports(str(protocol), lo, hi)
        rule.update(protocol=str(protocol), from_port=lo, to_port=hi)
    elif remote is None:
        raise InvalidParameter("Not enough parameters to build a valid rule.")
    return rule


_ALL_UPPER = ("TCP", "UDP")
_RULE_KEYS = ("group_id", "cidr", "from_port", "to_port", "protocol")


async def create_rule(rt: Runtime, ctx: RequestContext, body: dict[str, Any]
                      ) -> dict[str, Any]:
    parent = await groups_service.get(rt, ctx, str(body["parent_group_id"]))
    if body.get("group_id") is not None:
        await groups_service.get(rt, ctx, str(body["group_id"]))
    rule = nova_rule(body)
    async with rt.db.session() as s:
        have = (await s.scalars(select(SecurityGroupRule).where(
            SecurityGroupRule.security_group_id == parent.id,
            SecurityGroupRule.direction == "ingress"))).all()
    for old in have:
        if _same(old, rule):
            raise InvalidParameter(f"This rule already exists in group {parent.id}")
    cidr = rule.get("cidr")
    data = {"security_group_id": parent.id, "direction": "ingress",
            "ethertype": "IPv6" if cidr and ":" in cidr else "IPv4",
            "protocol": rule.get("protocol"), "remote_ip_prefix": cidr,
            "remote_group_id": rule.get("group_id")}
    if rule.get("from_port", -1) != -1:
        data["port_range_min"] = rule["from_port"]
    if rule.get("to_port", -1) != -1:
        data["port_range_max"] = rule["to_port"]
    try:
        made = await groups_service.create_rule(rt, ctx, data)
    except Conflict as exc:  # Neutron's 409: Nova's SecurityGroupLimitExceeded
        raise Forbidden(exc.message) from None
    async with rt.db.session() as s:
        [shown] = await _shown(s, ctx, [await groups_service.fetch(s, ctx, parent.id)])
    return next(r for r in shown["rules"] if r["id"] == made.id)


def _same(old: SecurityGroupRule, new: dict[str, Any]) -> bool:
    """Nova's ``_rule_exists``, over the row as Nova converts it."""
    lo, hi = old.port_range_min, old.port_range_max
    if old.protocol and lo is None and hi is None:
        lo, hi = (1, 65535) if old.protocol.lower() in _ALL_PORTS else (-1, -1)
    converted = {"group_id": old.remote_group_id,
                 "cidr": old.remote_ip_prefix or "0.0.0.0/0",
                 "from_port": lo, "to_port": hi, "protocol": old.protocol}
    return all(converted.get(k) == new.get(k) for k in _RULE_KEYS)


async def delete_rule(rt: Runtime, ctx: RequestContext, rule_id: str) -> None:
    if not UUID_RE.match(rule_id):
        raise InvalidParameter("Security group id should be uuid")
    await groups_service.remove_rule(rt, ctx, rule_id)
