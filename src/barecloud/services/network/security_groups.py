"""Security groups and their rules (Neutron's ``security-group`` extension).

Every project gets a ``default`` group the first time it lists groups or makes
a port: ingress from its own members and all egress, IPv4 and IPv6 (Neutron's
default rules); it cannot be renamed or deleted by its project.  A port with
port security and no group named is put in its project's default group.

Firewall profiles are ordinary groups of the operator's project shared with
every project through an RBAC ``access_as_shared`` entry (``rbac.py``), as
Neutron shares groups: the others see them (``shared`` true), put their ports
in them and use them as remote groups, but cannot change them (403) because
they are not theirs.

A change here is enforced by the network agent (bare metal, at the switch
port) and the host agents (VMs, at the tap): :func:`changed` wakes them.
Rules are fenced by a unique (group, fingerprint): two concurrent creates of
one rule leave one row and a 409; the one default group per project is a
partial unique index.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import (
    NetworkPort,
    NetworkRbac,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from barecloud.db.session import Database
from barecloud.errors import prefix
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import attrs, quotas
from barecloud.services.network.common import (
    WILDCARD,
    ListQuery,
    Page,
    bool_filter,
    column_filter,
    create_all,
    fetch_visible,
    int_filter,
    page,
    sees_all,
    updated,
    visible_rows,
)
from barecloud.services.network.errors import (
    HTTPBadRequest,
    SecurityGroupCannotRemoveDefault,
    SecurityGroupCannotUpdateDefault,
    SecurityGroupDefaultAlreadyExists,
    SecurityGroupEthertypeConflictWithProtocol,
    SecurityGroupInUse,
    SecurityGroupInvalidIcmpValue,
    SecurityGroupInvalidPortRange,
    SecurityGroupInvalidPortValue,
    SecurityGroupInvalidProtocolForPortRange,
    SecurityGroupMissingIcmpType,
    SecurityGroupNotFound,
    SecurityGroupProtocolRequiredWithPorts,
    SecurityGroupRemoteGroupAndRemoteIpPrefix,
    SecurityGroupRuleExists,
    SecurityGroupRuleInvalidProtocol,
    SecurityGroupRuleNotFound,
    SecurityGroupRuleParameterConflict,
)
from barecloud.services.tenancy import project_of, service_context

DEFAULT = "default"
DEFAULT_DESCRIPTION = "Default security group"
ETHERTYPES = ("IPv4", "IPv6")
# Neutron's names for protocols (neutron-lib's IP_PROTOCOL_MAP) and their numbers.
PROTOCOLS: dict[str, int] = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmpv6": 58,
    "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58,
    "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113,
    "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}
_PORTED = {6, 17, 33, 132, 136}  # protocols with port ranges
_ICMP = {1, 58}
_IPV6_ONLY = {"icmpv6", "ipv6-icmp", "ipv6-encap", "ipv6-frag", "ipv6-nonxt",
              "ipv6-opts", "ipv6-route", "58", "41", "43", "44", "59", "60"}

# Called after every committed change of groups, rules or a port's groups
# (the network agent's wake-up; the host agents' lists are bumped by Compute).
_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` after each change; returns what stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def changed() -> None:
    for listener in list(_listeners):
        listener()


# --- visibility -------------------------------------------------------------------
def shared_with(ctx: RequestContext, group_id: Any = SecurityGroup.id) -> Any:
    return exists().where(NetworkRbac.object_type == "security_group",
                          NetworkRbac.object_id == group_id,
                          NetworkRbac.action == "access_as_shared",
                          NetworkRbac.target_tenant.in_([project_of(ctx), WILDCARD]))


def visible(ctx: RequestContext) -> Any:
    if sees_all(ctx):
        return None
    return or_(SecurityGroup.project_id == project_of(ctx), shared_with(ctx))


async def is_shared_for(s: AsyncSession, ctx: RequestContext, group: SecurityGroup) -> bool:
    """Neutron's per-caller ``shared``: shared with everyone or with the caller's project."""
    if group.shared:
        return True
    return bool(await s.scalar(select(shared_with(ctx, group.id))))


async def fetch(s: AsyncSession, ctx: RequestContext, group_id: str,
                for_update: bool = False) -> SecurityGroup:
    return await fetch_visible(s, SecurityGroup, group_id, visible(ctx), SecurityGroupNotFound,
                               for_update)


# --- the default group -----------------------------------------------------------------
def _default_rules(group_id: str, project: str) -> list[dict[str, Any]]:
    return [{"security_group_id": group_id, "project_id": project, "direction": d,
             "ethertype": e, "remote_group_id": group_id if d == "ingress" else None}
            for d in ("ingress", "egress") for e in ETHERTYPES]


def _egress_rules(group_id: str, project: str) -> list[dict[str, Any]]:
    return [{"security_group_id": group_id, "project_id": project, "direction": "egress",
             "ethertype": e} for e in ETHERTYPES]


async def ensure_default(db: Database, project: str) -> str:
    """The project's default group's id, made (with Neutron's default rules) if missing.
    Two processes making it at once: the unique index keeps one, the other reads it."""
    for _ in range(3):
        async with db.session() as s:
            found = await s.scalar(select(SecurityGroup.id).where(
                SecurityGroup.project_id == project, SecurityGroup.is_default.is_(True)))
        if found is not None:
            return found
        try:
            async with db.session() as s:
                group = SecurityGroup(name=DEFAULT, description=DEFAULT_DESCRIPTION,
                                      project_id=project, is_default=True, stateful=True)
                s.add(group)
                await s.flush()
                for values in _default_rules(group.id, project):
                    s.add(_rule_row(values))
            changed()
            return group.id
        except IntegrityError:
            continue
    raise SecurityGroupNotFound(DEFAULT)


# --- groups -----------------------------------------------------------------------------
GROUP_FILTERS = {
    "id": column_filter(SecurityGroup.id), "name": column_filter(SecurityGroup.name),
    "description": column_filter(SecurityGroup.description),
    "project_id": column_filter(SecurityGroup.project_id),
    "stateful": bool_filter(SecurityGroup.stateful),
    "shared": bool_filter(SecurityGroup.shared),
}
GROUP_SORTS = {"id": SecurityGroup.id, "name": SecurityGroup.name,
               "project_id": SecurityGroup.project_id, "tenant_id": SecurityGroup.project_id,
               "created_at": SecurityGroup.created_at,
               "updated_at": updated(SecurityGroup.updated_at, SecurityGroup.created_at)}


async def get(rt: Runtime, ctx: RequestContext, group_id: str) -> SecurityGroup:
    policy.authorize(ctx, "network:get_security_group")
    async with rt.db.session() as s:
        return await fetch(s, ctx, group_id)


async def list_groups(rt: Runtime, ctx: RequestContext, query: ListQuery) -> Page:
    policy.authorize(ctx, "network:get_security_group")
    await ensure_default(rt.db, project_of(ctx))  # Neutron makes it on first sight
    q = visible_rows(SecurityGroup, visible(ctx))
    async with rt.db.session() as s:
        return await page(s, q, SecurityGroup, query, GROUP_FILTERS, GROUP_SORTS,
                          rt.settings.api_max_limit, SecurityGroupNotFound)


async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> SecurityGroup:
    """A group from a declared body, with Neutron's two egress rules."""
    project = attrs.owner(ctx, data)
    policy.authorize(ctx, "network:create_security_group", {"project_id": project})
    name = attrs.string(data, "name")
    if name == DEFAULT:
        raise SecurityGroupDefaultAlreadyExists()
    await ensure_default(rt.db, project)
    async with rt.db.session() as s:
        await quotas.check(s, project, "security_group")
        group = SecurityGroup(name=name, description=attrs.string(data, "description"),
                              project_id=project,
                              stateful=attrs.boolean(data, "stateful", True))
        s.add(group)
        await s.flush()
        for values in _egress_rules(group.id, project):
            s.add(_rule_row(values))
        group_id = group.id
    async with rt.db.session() as s:
        return await fetch(s, service_context(ctx.request_id), group_id)


async def create_many(rt: Runtime, ctx: RequestContext, items: list[dict[str, Any]]
                      ) -> list[SecurityGroup]:
    return await create_all(lambda data: create(rt, ctx, data),
                            lambda g: remove(rt, service_context(ctx.request_id), g.id), items)


async def _in_use(s: AsyncSession, group_id: str) -> bool:
    return await s.scalar(select(PortSecurityGroup.port_id).where(
        PortSecurityGroup.security_group_id == group_id).limit(1)) is not None


async def update(rt: Runtime, ctx: RequestContext, group_id: str,
                 data: dict[str, Any]) -> SecurityGroup:
    policy.authorize(ctx, "network:get_security_group")
    async with rt.db.session() as s:
        group = await fetch(s, ctx, group_id, for_update=True)
        policy.authorize(ctx, "network:update_security_group", {"project_id": group.project_id})
        if "name" in data:
            name = attrs.string(data, "name")
            if group.is_default and name != DEFAULT:
                raise SecurityGroupCannotUpdateDefault()
            if not group.is_default and name == DEFAULT:
                raise SecurityGroupDefaultAlreadyExists()
            group.name = name
        if "description" in data:
            group.description = attrs.string(data, "description")
        if "stateful" in data:
            stateful = attrs.boolean(data, "stateful", True)
            if stateful != group.stateful and await _in_use(s, group.id):
                raise SecurityGroupInUse(group.id, "in use")
            group.stateful = stateful
        group.revision_number += 1
    changed()
    async with rt.db.session() as s:
        return await fetch(s, service_context(ctx.request_id), group_id)


async def remove(rt: Runtime, ctx: RequestContext, group_id: str) -> None:
    policy.authorize(ctx, "network:get_security_group")
    async with rt.db.session() as s:
        group = await fetch(s, ctx, group_id, for_update=True)
        policy.authorize(ctx, "network:delete_security_group", {"project_id": group.project_id})
        if group.is_default and not policy.can(ctx, "network:context_is_admin"):
            raise SecurityGroupCannotRemoveDefault()
        if await _in_use(s, group.id):
            raise SecurityGroupInUse(group.id, "in use")
        await s.execute(delete(SecurityGroupRule).where(or_(
            SecurityGroupRule.security_group_id == group.id,
            SecurityGroupRule.remote_group_id == group.id)))
        await s.execute(delete(NetworkRbac).where(NetworkRbac.object_type == "security_group",
                                                  NetworkRbac.object_id == group.id))
        await s.execute(delete(SecurityGroup).where(SecurityGroup.id == group.id))
    changed()


# --- rules ------------------------------------------------------------------------------
RULE_FILTERS = {
    "id": column_filter(SecurityGroupRule.id),
    "description": column_filter(SecurityGroupRule.description),
    "project_id": column_filter(SecurityGroupRule.project_id),
    "security_group_id": column_filter(SecurityGroupRule.security_group_id),
    "direction": column_filter(SecurityGroupRule.direction),
    "ethertype": column_filter(SecurityGroupRule.ethertype),
    "protocol": column_filter(SecurityGroupRule.protocol),
    "port_range_min": int_filter(SecurityGroupRule.port_range_min, "port_range_min"),
    "port_range_max": int_filter(SecurityGroupRule.port_range_max, "port_range_max"),
    "remote_ip_prefix": column_filter(SecurityGroupRule.remote_ip_prefix),
    "remote_group_id": column_filter(SecurityGroupRule.remote_group_id),
}
RULE_SORTS = {"id": SecurityGroupRule.id, "direction": SecurityGroupRule.direction,
              "ethertype": SecurityGroupRule.ethertype,
              "protocol": SecurityGroupRule.protocol,
              "security_group_id": SecurityGroupRule.security_group_id,
              "project_id": SecurityGroupRule.project_id,
              "created_at": SecurityGroupRule.created_at}


def _rules_visible(ctx: RequestContext) -> Any:
    """The rules of the groups the caller sees."""
    cond = visible(ctx)
    if cond is None:
        return None
    return SecurityGroupRule.security_group_id.in_(select(SecurityGroup.id).where(cond))


async def fetch_rule(s: AsyncSession, ctx: RequestContext, rule_id: str) -> SecurityGroupRule:
    return await fetch_visible(s, SecurityGroupRule, rule_id, _rules_visible(ctx),
                               SecurityGroupRuleNotFound)


async def get_rule(rt: Runtime, ctx: RequestContext, rule_id: str) -> SecurityGroupRule:
    policy.authorize(ctx, "network:get_security_group_rule")
    async with rt.db.session() as s:
        return await fetch_rule(s, ctx, rule_id)


async def list_rules(rt: Runtime, ctx: RequestContext, query: ListQuery) -> Page:
    policy.authorize(ctx, "network:get_security_group_rule")
    q = visible_rows(SecurityGroupRule, _rules_visible(ctx))
    async with rt.db.session() as s:
        return await page(s, q, SecurityGroupRule, query, RULE_FILTERS, RULE_SORTS,
                          rt.settings.api_max_limit, SecurityGroupRuleNotFound)


def _protocol(value: Any) -> str | None:
    """Neutron's convert_protocol: a known name (any case), or a number 0-255 as text."""
    if value is None or (isinstance(value, str) and value.lower() in ("", "any")):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        text = str(value).strip()
    if text.lstrip("-").isdigit():
        if 0 <= int(text) <= 255:
            return str(int(text))
    elif text.lower() in PROTOCOLS:
        return text.lower()
    raise SecurityGroupRuleInvalidProtocol(prefix(str(value)), [None, *sorted(PROTOCOLS)])


def protocol_number(protocol: str | None) -> int | None:
    if protocol is None:
        return None
    return int(protocol) if protocol.isdigit() else PROTOCOLS[protocol]


def _port(value: Any) -> int | None:
    """Neutron's convert_validate_port_value: 0-65535, or None."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
        if isinstance(value, bool):
            raise ValueError
    except (TypeError, ValueError):
        raise SecurityGroupInvalidPortValue(prefix(str(value))) from None
    if not 0 <= number <= 65535:
        raise SecurityGroupInvalidPortValue(number)
    return number


def _ethertype(value: Any) -> str:
    if value is None:
        return "IPv4"
    for known in ETHERTYPES:
        if str(value).lower() == known.lower():
            return known
    raise HTTPBadRequest(f"Invalid input for ethertype. Reason: '{prefix(str(value))}' is "
                         f"not in {list(ETHERTYPES)}.")


def _prefix(value: Any, ethertype: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        net = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise HTTPBadRequest(f"Invalid input for remote_ip_prefix. Reason: "
                             f"'{prefix(str(value))}' is not a valid IP subnet.") from None
    if f"IPv{net.version}" != ethertype:
        raise SecurityGroupRuleParameterConflict(ethertype, str(value))
    return str(value) if "/" in str(value) else str(net)


def _check_ports(protocol: str | None, lo: int | None, hi: int | None) -> None:
    """Neutron's _validate_port_range."""
    if lo is None and hi is None:
        return
    number = protocol_number(protocol)
    if number is None:
        raise SecurityGroupProtocolRequiredWithPorts()
    if number in _PORTED:
        if lo == 0 or hi == 0:
            raise SecurityGroupInvalidPortValue(0)
        # Both ends or neither: Neutron fills no missing end (tempest asks (None, 6)).
        if lo is None or hi is None or lo > hi:
            raise SecurityGroupInvalidPortRange()
    elif number in _ICMP:
        for field, attr, value in (("type", "port_range_min", lo), ("code", "port_range_max", hi)):
            if value is not None and not 0 <= value <= 255:
                raise SecurityGroupInvalidIcmpValue(field, attr, value)
        if lo is None and hi is not None:
            raise SecurityGroupMissingIcmpType(hi)
    else:
        raise SecurityGroupInvalidProtocolForPortRange(protocol)


def fingerprint(values: dict[str, Any]) -> str:
    """What makes two rules of a group the same (Neutron's duplicate check): direction,
    ethertype, protocol by number, ports, the remote (a prefix normalized)."""
    remote = values.get("remote_ip_prefix")
    if remote:
        remote = str(ipaddress.ip_network(remote, strict=False))
    parts = (values["direction"], values.get("ethertype", "IPv4"),
             protocol_number(values.get("protocol")), values.get("port_range_min"),
             values.get("port_range_max"), remote, values.get("remote_group_id"))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _rule_row(values: dict[str, Any]) -> SecurityGroupRule:
    return SecurityGroupRule(fingerprint=fingerprint(values), revision_number=0,
                             description=values.pop("description", "") or "",
                             **values)


def rule_values(data: dict[str, Any]) -> dict[str, Any]:
    """A declared rule body checked and converted as Neutron does, in its order."""
    if data.get("remote_ip_prefix") and data.get("remote_group_id"):
        raise SecurityGroupRemoteGroupAndRemoteIpPrefix()
    protocol = _protocol(data.get("protocol"))
    lo, hi = _port(data.get("port_range_min")), _port(data.get("port_range_max"))
    ethertype = _ethertype(data.get("ethertype"))
    _check_ports(protocol, lo, hi)
    if protocol in _IPV6_ONLY and ethertype == "IPv4":
        raise SecurityGroupEthertypeConflictWithProtocol(ethertype, protocol)
    return {"direction": str(data["direction"]), "ethertype": ethertype, "protocol": protocol,
            "port_range_min": lo, "port_range_max": hi,
            "remote_ip_prefix": _prefix(data.get("remote_ip_prefix"), ethertype),
            "remote_group_id": str(data["remote_group_id"])
            if data.get("remote_group_id") else None,
            "description": attrs.string(data, "description")}


async def create_rule(rt: Runtime, ctx: RequestContext, data: dict[str, Any]
                      ) -> SecurityGroupRule:
    values = rule_values(data)
    policy.authorize(ctx, "network:get_security_group")
    try:
        async with rt.db.session() as s:
            group = await fetch(s, ctx, str(data["security_group_id"]), for_update=True)
            project = attrs.owner(ctx, data) if ("project_id" in data or "tenant_id" in data) \
                else group.project_id
            policy.authorize(ctx, "network:create_security_group_rule",
                             {"project_id": group.project_id})
            if values["remote_group_id"]:
                await fetch(s, ctx, values["remote_group_id"])
            print_ = fingerprint(values)
            same = await s.scalar(select(SecurityGroupRule.id).where(
                SecurityGroupRule.security_group_id == group.id,
                SecurityGroupRule.fingerprint == print_))
            if same is not None:
                raise SecurityGroupRuleExists(same)
            await quotas.check(s, project, "security_group_rule")
            row = _rule_row({**values, "security_group_id": group.id, "project_id": project})
            s.add(row)
            group.revision_number += 1
            await s.flush()
            rule_id = row.id
    except IntegrityError:
        async with rt.db.session() as s:
            same = await s.scalar(select(SecurityGroupRule.id).where(
                SecurityGroupRule.security_group_id == str(data["security_group_id"]),
                SecurityGroupRule.fingerprint == fingerprint(values)))
        raise SecurityGroupRuleExists(same or "unknown") from None
    changed()
    async with rt.db.session() as s:
        return await fetch_rule(s, service_context(ctx.request_id), rule_id)


async def create_rules(rt: Runtime, ctx: RequestContext, items: list[dict[str, Any]]
                       ) -> list[SecurityGroupRule]:
    return await create_all(lambda data: create_rule(rt, ctx, data),
                            lambda r: remove_rule(rt, service_context(ctx.request_id), r.id),
                            items)


async def update_rule(rt: Runtime, ctx: RequestContext, rule_id: str,
                      data: dict[str, Any]) -> SecurityGroupRule:
    policy.authorize(ctx, "network:get_security_group_rule")
    async with rt.db.session() as s:
        rule = await fetch_rule(s, ctx, rule_id)
        policy.authorize(ctx, "network:update_security_group_rule",
                         {"project_id": rule.project_id})
        if "description" in data:
            rule.description = attrs.string(data, "description")
        rule.revision_number += 1
    async with rt.db.session() as s:
        return await fetch_rule(s, service_context(ctx.request_id), rule_id)


async def remove_rule(rt: Runtime, ctx: RequestContext, rule_id: str) -> None:
    policy.authorize(ctx, "network:get_security_group_rule")
    async with rt.db.session() as s:
        rule = await fetch_rule(s, ctx, rule_id)
        group = await s.get_one(SecurityGroup, rule.security_group_id)
        policy.authorize(ctx, "network:delete_security_group_rule",
                         {"project_id": group.project_id})
        await s.execute(delete(SecurityGroupRule).where(SecurityGroupRule.id == rule.id))
        group.revision_number += 1
    changed()


# --- ports ------------------------------------------------------------------------------
async def check_for_port(s: AsyncSession, ctx: RequestContext, ids: list[Any]) -> list[str]:
    """The groups a port is put in: each one the caller sees (else 404), each once."""
    out: list[str] = []
    for value in ids:
        group_id = str(value)
        if group_id not in out:
            out.append((await fetch(s, ctx, group_id)).id)
    return out


async def set_port_groups(s: AsyncSession, port_id: str, ids: list[str]) -> None:
    await s.execute(delete(PortSecurityGroup).where(PortSecurityGroup.port_id == port_id))
    for group_id in ids:
        s.add(PortSecurityGroup(port_id=port_id, security_group_id=group_id))
    await s.flush()


async def count_rules(s: AsyncSession, group_id: str) -> int:
    return int(await s.scalar(select(func.count()).select_from(SecurityGroupRule).where(
        SecurityGroupRule.security_group_id == group_id)) or 0)


async def names_by_device(s: AsyncSession, device_ids: Collection[str]) -> dict[str, list[str]]:
    """Each device's groups as Nova lists a server's: a name (its id if it has none)
    per group of each of its ports, ports in id order."""
    if not device_ids:
        return {}
    rows = (await s.execute(
        select(NetworkPort.device_id, SecurityGroup.id, SecurityGroup.name)
        .join(PortSecurityGroup, PortSecurityGroup.port_id == NetworkPort.id)
        .join(SecurityGroup, SecurityGroup.id == PortSecurityGroup.security_group_id)
        .where(NetworkPort.device_id.in_(list(device_ids)))
        .order_by(NetworkPort.device_id, NetworkPort.id, SecurityGroup.name))).all()
    out: dict[str, list[str]] = {}
    for device, group_id, name in rows:
        out.setdefault(device, []).append(name or group_id)
    return out
