"""What each port may send and receive: its security groups' rules, resolved.

A rule's remote group becomes the addresses of the ports in that group (of
the rule's ethertype), as Neutron's agents expand it; a port without port
security is not filtered at all (None); a port with port security and no
group drops everything but DHCP and neighbour discovery (Neutron's "no group,
no traffic").  The result is the transport form of
:mod:`barecloud.hostagent.firewall` (``PortRules``), which the switch driver
(bare metal) and the host agent (VMs) turn into nftables.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import (
    IPAllocation,
    NetworkPort,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from barecloud.hostagent.firewall import PortRules, Rule


async def port_rules(s: AsyncSession, port_ids: Collection[str]
                     ) -> dict[str, PortRules | None]:
    """Each port's rules (None: not filtered); ports that do not exist are left out."""
    if not port_ids:
        return {}
    ports = (await s.execute(select(NetworkPort.id, NetworkPort.mac_address,
                                    NetworkPort.port_security_enabled)
                             .where(NetworkPort.id.in_(list(port_ids))))).all()
    memberships = (await s.execute(select(PortSecurityGroup.port_id,
                                          PortSecurityGroup.security_group_id)
                                   .where(PortSecurityGroup.port_id.in_(list(port_ids))))).all()
    groups_of: dict[str, list[str]] = {}
    for port_id, group_id in memberships:
        groups_of.setdefault(port_id, []).append(group_id)
    group_ids = {g for gs in groups_of.values() for g in gs}
    rules = (await s.scalars(select(SecurityGroupRule).where(
        SecurityGroupRule.security_group_id.in_(group_ids)))).all() if group_ids else []
    stateful = dict((await s.execute(select(SecurityGroup.id, SecurityGroup.stateful).where(
        SecurityGroup.id.in_(group_ids)))).tuples().all()) if group_ids else {}
    remote_ids = {r.remote_group_id for r in rules if r.remote_group_id}
    members = await _member_addresses(s, remote_ids)
    addresses = await _addresses(s, [p for p, *_ in ports])
    by_group: dict[str, list[SecurityGroupRule]] = {}
    for rule in rules:
        by_group.setdefault(rule.security_group_id, []).append(rule)
    out: dict[str, PortRules | None] = {}
    for port_id, mac, security in ports:
        if not security:
            out[port_id] = None
            continue
        mine = groups_of.get(port_id, [])
        resolved = tuple(_resolve(rule, members) for g in sorted(mine)
                         for rule in by_group.get(g, []))
        out[port_id] = PortRules(
            mac=mac.lower(), addresses=tuple(addresses.get(port_id, ())),
            rules=tuple(sorted(set(resolved), key=_order)),
            # A port in any stateless group is stateless (Neutron refuses mixing them).
            stateful=all(stateful.get(g, True) for g in mine))
    return out


def _resolve(rule: SecurityGroupRule, members: dict[str, tuple[str, ...]]) -> Rule:
    remote: tuple[str, ...] | None = None
    if rule.remote_ip_prefix:
        remote = (rule.remote_ip_prefix,)
    elif rule.remote_group_id:
        remote = members.get(rule.remote_group_id, ())
    return Rule(direction=rule.direction, ethertype=rule.ethertype, protocol=rule.protocol,
                port_range_min=rule.port_range_min, port_range_max=rule.port_range_max,
                remote=remote)


def _order(rule: Rule) -> str:
    return json.dumps(rule.to_json(), sort_keys=True)


async def _addresses(s: AsyncSession, port_ids: list[str]) -> dict[str, list[str]]:
    rows = (await s.execute(select(IPAllocation.port_id, IPAllocation.ip_address)
                            .where(IPAllocation.port_id.in_(port_ids))
                            .order_by(IPAllocation.ip_address))).all()
    out: dict[str, list[str]] = {}
    for port_id, address in rows:
        out.setdefault(port_id, []).append(address)
    return out


async def _member_addresses(s: AsyncSession, group_ids: Collection[str]
                            ) -> dict[str, tuple[str, ...]]:
    """Every address of every port in each group."""
    if not group_ids:
        return {}
    rows = (await s.execute(
        select(PortSecurityGroup.security_group_id, IPAllocation.ip_address)
        .join(IPAllocation, IPAllocation.port_id == PortSecurityGroup.port_id)
        .where(PortSecurityGroup.security_group_id.in_(list(group_ids))))).all()
    out: dict[str, set[str]] = {}
    for group_id, address in rows:
        out.setdefault(group_id, set()).add(address)
    return {g: tuple(sorted(a)) for g, a in out.items()}


def digest(rules: PortRules | None) -> str:
    """A short fingerprint of what a port is to enforce (to see that it changed)."""
    text = json.dumps(None if rules is None else rules.to_json(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def as_json(rules: PortRules | None) -> dict[str, Any] | None:
    return None if rules is None else rules.to_json()
