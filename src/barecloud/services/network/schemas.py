"""What the Network API takes, declared as JSON Schema, and Neutron's words for a refusal.

Neutron declares each resource's attributes in a table (neutron-lib's API
definitions: allow_post, allow_put, validate, convert_to); these are those
tables as JSON Schema.  A value Neutron *converts* (``"true"`` or ``1`` for a
boolean, ``"1500"`` for an integer) is declared as what the converter takes;
the service converts it (attrs.py).  What needs the database or another
attribute (a network type the cloud has, a CIDR that matches ``ip_version``,
pools inside the CIDR) stays a check in the service.

Neutron's words: an attribute it does not know is ``Unrecognized
attribute(s) 'x'``, a missing one ``Failed to parse request. Required
attribute 'x' not specified``, a value a validator refuses ``Invalid input for
<attr>. Reason: <why>.`` (all 400 HTTPBadRequest), and a value its converter
refuses ``Invalid input for operation: ...`` (InvalidInput).
"""

from __future__ import annotations

from typing import Any

import jsonschema

from barecloud.errors import BarecloudError, prefix
from barecloud.services.network.errors import HTTPBadRequest, InvalidInput, invalid_attr
from barecloud.services.validation import FALSE_STRINGS, TRUE_STRINGS, Schema

# --- attribute types ------------------------------------------------------------
# Neutron's convert_to_boolean (oslo's strict spellings, any case, and 0/1).
_SPELLINGS = sorted(TRUE_STRINGS | FALSE_STRINGS)
BOOLEAN: Schema = {"x-neutron-convert": "boolean", "anyOf": [
    {"type": "boolean"}, {"enum": [0, 1]},
    {"type": "string", "pattern": "^\\s*(" + "|".join(
        "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)
        for word in _SPELLINGS) + ")\\s*$"}]}
# Neutron's convert_to_int: a number, or its text.
INT_TEXT = "^\\s*[+-]?[0-9]+\\s*$"
# No text may hold a NUL: the database refuses it.
NO_NUL = "^[^\\x00]*$"


def integer(minimum: int | None = None, maximum: int | None = None,
            nullable: bool = False) -> Schema:
    out: Schema = {"type": ["integer", "string", *(["null"] if nullable else [])],
                   "pattern": INT_TEXT}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def string(max_length: int = 255, nullable: bool = False) -> Schema:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": max_length,
            "pattern": NO_NUL}


UUID: Schema = {"type": "string", "format": "uuid"}
PROJECT: Schema = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL}
STRINGS: Schema = {"type": "array", "items": {"type": "string", "pattern": NO_NUL}}
# Neutron answers an update of these "Cannot update read-only attribute x".
READ_ONLY: Schema = {"readOnly": True, "not": {}}


def _standard(**extra: Schema) -> dict[str, Schema]:
    return {"name": string(), "description": string(), **extra}


def _owner() -> dict[str, Schema]:
    return {"project_id": PROJECT, "tenant_id": PROJECT}


def _update(attributes: dict[str, Schema], read_only: tuple[str, ...]) -> Schema:
    return {"type": "object", "additionalProperties": False,
            "properties": {**attributes, **{k: READ_ONLY for k in read_only}}}


def body(member: str, collection: str, item: Schema, bulk: bool) -> Schema:
    """``{"<member>": {...}}``, or for a create also ``{"<collection>": [{...}, ...]}``."""
    if not bulk:
        return {"type": "object", "title": member, "required": [member],
                "properties": {member: item}}
    return {"type": "object", "title": member,
            "properties": {member: item, collection: {
                "type": "array", "minItems": 1, "items": item}},
            "if": {"required": [collection], "not": {"required": [member]}},
            "else": {"required": [member]}}


# --- networks ---------------------------------------------------------------------
PROVIDER: dict[str, Schema] = {
    "provider:network_type": string(nullable=True),
    "provider:physical_network": string(64, nullable=True),
    "provider:segmentation_id": integer(nullable=True),
}
_NETWORK: dict[str, Schema] = _standard(
    admin_state_up=BOOLEAN, shared=BOOLEAN, **{"router:external": BOOLEAN},
    mtu=integer(68, nullable=True), port_security_enabled=BOOLEAN, **PROVIDER)
NETWORK: Schema = {"type": "object", "additionalProperties": False, "properties": {
    **_NETWORK, **_owner(), "availability_zone_hints": STRINGS}}
CREATE_NETWORK = body("network", "networks", NETWORK, bulk=True)
UPDATE_NETWORK = body("network", "networks", _update(_NETWORK, (
    "id", "project_id", "tenant_id", "status", "subnets", "availability_zones",
    "availability_zone_hints", "created_at", "updated_at", "revision_number")), bulk=False)

# --- subnets ----------------------------------------------------------------------
_POOLS: Schema = {"type": ["array", "null"], "items": {
    "type": "object", "required": ["start", "end"], "additionalProperties": False,
    "properties": {"start": {"type": "string"}, "end": {"type": "string"}}}}
_ROUTES: Schema = {"type": ["array", "null"], "items": {
    "type": "object", "required": ["destination", "nexthop"], "additionalProperties": False,
    "properties": {"destination": {"type": "string"}, "nexthop": {"type": "string"}}}}
_IPV6_MODE: Schema = {"enum": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless", None]}
_SUBNET: dict[str, Schema] = _standard(
    gateway_ip={"type": ["string", "null"]}, enable_dhcp=BOOLEAN,
    dns_nameservers={"type": ["array", "null"], "items": {"type": "string"}},
    allocation_pools=_POOLS, host_routes=_ROUTES)
SUBNET: Schema = {"type": "object", "additionalProperties": False,
                  "required": ["network_id", "ip_version"], "properties": {
    **_SUBNET, **_owner(), "network_id": UUID, "ip_version": {"enum": [4, 6, "4", "6"]},
    "cidr": {"type": ["string", "null"], "maxLength": 64},
    "ipv6_ra_mode": _IPV6_MODE, "ipv6_address_mode": _IPV6_MODE,
    "subnetpool_id": {"type": ["string", "null"]}, "use_default_subnetpool": BOOLEAN,
    "service_types": {"type": ["array", "null"], "items": {"type": "string"}},
    "segment_id": {"type": ["string", "null"]}}}
CREATE_SUBNET = body("subnet", "subnets", SUBNET, bulk=True)
UPDATE_SUBNET = body("subnet", "subnets", _update(_SUBNET, (
    "id", "network_id", "ip_version", "cidr", "project_id", "tenant_id", "ipv6_ra_mode",
    "ipv6_address_mode", "subnetpool_id", "created_at", "updated_at", "revision_number")),
    bulk=False)

# --- ports ------------------------------------------------------------------------
_FIXED_IPS: Schema = {"type": ["array", "null"], "items": {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {"subnet_id": UUID, "ip_address": {"type": "string"}}}}
_PROFILE: Schema = {"type": ["object", "null"], "properties": {
    "local_link_information": {"type": ["array", "null"], "items": {"type": "object"}}}}
_PORT: dict[str, Schema] = _standard(
    admin_state_up=BOOLEAN, mac_address={"type": "string", "format": "mac-address"},
    fixed_ips=_FIXED_IPS, device_id=string(), device_owner=string(),
    port_security_enabled=BOOLEAN, security_groups={"type": ["array", "null"]},
    **{"binding:host_id": string(nullable=True),
       "binding:vnic_type": {"enum": ["normal", "baremetal"]},
       "binding:profile": _PROFILE})
PORT: Schema = {"type": "object", "additionalProperties": False, "required": ["network_id"],
                "properties": {**_PORT, **_owner(), "network_id": UUID}}
CREATE_PORT = body("port", "ports", PORT, bulk=True)
UPDATE_PORT = body("port", "ports", _update(_PORT, (
    "id", "network_id", "project_id", "tenant_id", "status", "binding:vif_type",
    "binding:vif_details", "created_at", "updated_at", "revision_number")), bulk=False)

# --- RBAC policies ----------------------------------------------------------------
_TARGET: Schema = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": NO_NUL}
RBAC_POLICY: Schema = {
    "type": "object", "additionalProperties": False,
    "required": ["object_type", "object_id", "action"], "properties": {
        **_owner(), "object_type": {"enum": ["network", "security_group"]},
        "object_id": {"type": "string", "minLength": 1, "maxLength": 36, "pattern": NO_NUL},
        "action": {"enum": ["access_as_shared", "access_as_external"]},
        "target_tenant": _TARGET, "target_project": _TARGET}}
CREATE_RBAC_POLICY = body("rbac_policy", "rbac_policies", RBAC_POLICY, bulk=True)
UPDATE_RBAC_POLICY = body("rbac_policy", "rbac_policies", _update(
    {"target_tenant": _TARGET, "target_project": _TARGET},
    ("id", "object_type", "object_id", "action", "project_id", "tenant_id")), bulk=False)

# --- security groups --------------------------------------------------------------
_SECURITY_GROUP: dict[str, Schema] = _standard(stateful=BOOLEAN)
SECURITY_GROUP: Schema = {"type": "object", "additionalProperties": False,
                          "properties": {**_SECURITY_GROUP, **_owner()}}
CREATE_SECURITY_GROUP = body("security_group", "security_groups", SECURITY_GROUP, bulk=True)
UPDATE_SECURITY_GROUP = body("security_group", "security_groups", _update(
    _SECURITY_GROUP, ("id", "project_id", "tenant_id", "security_group_rules", "shared",
                      "created_at", "updated_at", "revision_number")), bulk=False)
# protocol, ports and ethertype are converted by the service, in Neutron's words
# (SecurityGroupRuleInvalidProtocol, SecurityGroupInvalidPortValue, ...).
_RULE_VALUE: Schema = {"type": ["string", "integer", "null"], "pattern": NO_NUL}
SECURITY_GROUP_RULE: Schema = {
    "type": "object", "additionalProperties": False,
    "required": ["security_group_id", "direction"], "properties": {
        **_owner(), "description": string(), "security_group_id": UUID,
        "direction": {"enum": ["ingress", "egress"]},
        "ethertype": {"type": ["string", "null"], "pattern": NO_NUL},
        "protocol": _RULE_VALUE, "port_range_min": _RULE_VALUE,
        "port_range_max": _RULE_VALUE,
        "remote_ip_prefix": {"type": ["string", "null"], "maxLength": 64, "pattern": NO_NUL},
        # Neutron declares no format: an id that names no group is a 404, not a 400.
        "remote_group_id": {"type": ["string", "null"], "maxLength": 255, "pattern": NO_NUL},
        "remote_address_group_id": {"type": "null"}}}
CREATE_SECURITY_GROUP_RULE = body("security_group_rule", "security_group_rules",
                                  SECURITY_GROUP_RULE, bulk=True)
UPDATE_SECURITY_GROUP_RULE = body("security_group_rule", "security_group_rules", _update(
    {"description": string()},
    ("id", "security_group_id", "direction", "ethertype", "protocol", "port_range_min",
     "port_range_max", "remote_ip_prefix", "remote_group_id", "project_id", "tenant_id",
     "created_at", "updated_at", "revision_number")), bulk=False)


# --- routers (l3, ext-gw-mode) ------------------------------------------------------
_FIXED_IP: Schema = {"type": "object", "minProperties": 1, "additionalProperties": False,
                     "properties": {"subnet_id": UUID, "ip_address": {"type": "string"}}}
# {} clears the gateway, as null does (the CLI's `router unset --external-gateway`);
# otherwise network_id is required (checked by the service).
GATEWAY_INFO: Schema = {"type": ["object", "null"], "additionalProperties": False,
                        "properties": {
    "network_id": UUID, "enable_snat": BOOLEAN,
    "external_fixed_ips": {"type": ["array", "null"], "items": _FIXED_IP}}}
_ROUTER: dict[str, Schema] = _standard(admin_state_up=BOOLEAN,
                                       external_gateway_info=GATEWAY_INFO)
ROUTER: Schema = {"type": "object", "additionalProperties": False, "properties": {
    **_ROUTER, **_owner(), "availability_zone_hints": STRINGS,
    "distributed": {"enum": [False, "false", "False"]}, "ha": {"enum": [False, "false",
                                                                       "False"]}}}
CREATE_ROUTER = body("router", "routers", ROUTER, bulk=True)
UPDATE_ROUTER = body("router", "routers", _update(_ROUTER, (
    "id", "project_id", "tenant_id", "status", "created_at", "updated_at",
    "revision_number")), bulk=False)
# PUT /routers/{id}/add_router_interface and remove_router_interface: a bare body.
# The ids are checked by the service, in Neutron's words.
ROUTER_INTERFACE: Schema = {"type": "object", "title": "router interface", "properties": {
    "subnet_id": {"type": ["string", "null"]}, "port_id": {"type": ["string", "null"]}}}

# --- floating IPs ---------------------------------------------------------------------
_NULLABLE_UUID: Schema = {"type": ["string", "null"], "format": "uuid"}
_FLOATINGIP: dict[str, Schema] = {
    "description": string(), "port_id": _NULLABLE_UUID,
    "fixed_ip_address": {"type": ["string", "null"]}}
FLOATINGIP: Schema = {"type": "object", "additionalProperties": False,
                      "required": ["floating_network_id"], "properties": {
    **_FLOATINGIP, **_owner(), "floating_network_id": UUID,
    "floating_ip_address": {"type": ["string", "null"]}, "subnet_id": _NULLABLE_UUID}}
CREATE_FLOATINGIP = body("floatingip", "floatingips", FLOATINGIP, bulk=True)
UPDATE_FLOATINGIP = body("floatingip", "floatingips", _update(_FLOATINGIP, (
    "id", "project_id", "tenant_id", "floating_network_id", "floating_ip_address",
    "router_id", "status", "created_at", "updated_at", "revision_number")), bulk=False)

# --- quotas -----------------------------------------------------------------------
QUOTA_LIMIT = integer(-1, 2**31 - 1)
UPDATE_QUOTA = body("quota", "quotas", {
    "type": "object", "additionalProperties": False, "properties": {
        "network": QUOTA_LIMIT, "subnet": QUOTA_LIMIT, "port": QUOTA_LIMIT,
        "rbac_policy": QUOTA_LIMIT, "security_group": QUOTA_LIMIT,
        "security_group_rule": QUOTA_LIMIT, "router": QUOTA_LIMIT, "floatingip": QUOTA_LIMIT,
        "check_limit": BOOLEAN, "force": BOOLEAN}}, bulk=False)


# --- query strings ----------------------------------------------------------------
def list_query(filters: tuple[str, ...]) -> Schema:
    """A list's query string: its filters (each may repeat), ``fields``, sorting and
    marker pages.  Another name is refused by the service in Neutron's words
    (``x is invalid attribute for filtering``), so the declaration lets it through."""
    return {"type": "object", "properties": {
        **{name: STRINGS for name in filters if name != "fields"},
        "fields": STRINGS, "sort_key": STRINGS, "sort_dir": STRINGS,
        "limit": {"type": "integer", "minimum": 0},
        "marker": {"type": "string", "pattern": NO_NUL},
        "page_reverse": {"type": "boolean"}}}


_STANDARD_FILTERS = ("id", "name", "description", "project_id", "tenant_id")
LIST_NETWORKS_QUERY = list_query((
    *_STANDARD_FILTERS, "status", "admin_state_up", "shared", "router:external",
    "port_security_enabled", "mtu", *PROVIDER))
LIST_SUBNETS_QUERY = list_query((
    *_STANDARD_FILTERS, "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
    "ipv6_ra_mode", "ipv6_address_mode", "router:external"))
AGENT_FILTERS = ("id", "agent_type", "binary", "topic", "host", "alive", "admin_state_up",
                 "availability_zone")
LIST_AGENTS_QUERY = list_query(AGENT_FILTERS)
LIST_PORTS_QUERY = list_query((
    *_STANDARD_FILTERS, "network_id", "device_id", "device_owner", "mac_address", "status",
    "admin_state_up", "port_security_enabled", "binding:host_id", "binding:vnic_type",
    "binding:vif_type", "fixed_ips", "security_groups"))
LIST_RBAC_POLICIES_QUERY = list_query((
    "id", "object_type", "object_id", "action", "target_tenant", "target_project",
    "target_project_id", "project_id", "tenant_id"))
LIST_SECURITY_GROUPS_QUERY = list_query((*_STANDARD_FILTERS, "stateful", "shared"))
LIST_SECURITY_GROUP_RULES_QUERY = list_query((
    "id", "description", "project_id", "tenant_id", "security_group_id", "direction",
    "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
    "remote_group_id"))
LIST_ROUTERS_QUERY = list_query((*_STANDARD_FILTERS, "status", "admin_state_up"))
LIST_FLOATINGIPS_QUERY = list_query((
    *_STANDARD_FILTERS, "floating_network_id", "floating_ip_address", "fixed_ip_address",
    "port_id", "router_id", "status"))
SHOW_QUERY: Schema = {"type": "object", "properties": {"fields": STRINGS}}
TOP_TALKERS_QUERY: Schema = {"type": "object", "properties": {
    "switch": {"type": "string", "pattern": NO_NUL}, "sort": {"type": "string"},
    "by": {"type": "string"}, "port": {"type": "string", "pattern": NO_NUL},
    "minutes": {"type": "number"}, "limit": {"type": "number", "multipleOf": 1}}}


# --- Neutron's words ----------------------------------------------------------------
_KINDS = {"string": "a valid string", "integer": "an integer", "number": "a number",
          "object": "a dictionary", "array": "a list", "null": "None"}
_FORMATS = {"uuid": "a valid UUID", "mac-address": "a valid MAC address"}


def _shown(value: Any) -> str:
    return f"'{prefix(value)}'"


def _reason(error: jsonschema.ValidationError) -> str:
    value: Any = error.instance
    rule: Any = error.validator_value
    kind = error.validator
    if kind == "type":
        wanted = [rule] if isinstance(rule, str) else list(rule)
        return f"{_shown(value)} is not {_KINDS.get(wanted[0], wanted[0])}"
    if kind == "pattern" and rule == INT_TEXT:
        return f"{_shown(value)} is not an integer"
    if kind == "pattern" and rule == NO_NUL:
        return f"{_shown(value)} is not a valid string"
    if kind == "maxLength":
        return f"{_shown(value)} exceeds maximum length of {rule}"
    if kind == "minLength":
        return f"{_shown(value)} is too short"
    if kind == "minimum":
        return f"{_shown(value)} is too small - must be at least '{rule}'"
    if kind == "maximum":
        return f"{_shown(value)} is too large - must be no larger than '{rule}'"
    if kind == "multipleOf":
        return f"{_shown(value)} is not an integer"
    if kind == "format":
        return f"{_shown(value)} is not {_FORMATS.get(rule, f'a valid {rule}')}"
    if kind == "enum":
        allowed = [v for v in rule if v is not None and not (
            isinstance(v, str) and v.isdigit())]
        return f"{prefix(value)} is not in {allowed}"
    return prefix(error.message)


def _declared(error: jsonschema.ValidationError) -> dict[str, Any]:
    """The declaration of the value refused: for an ``anyOf`` branch, the whole
    ``anyOf`` (a BOOLEAN)."""
    node: Any = error
    while node.parent is not None:
        node = node.parent
    return node.schema if isinstance(node.schema, dict) else {}


def _missing(error: jsonschema.ValidationError) -> str:
    required: Any = error.validator_value
    given: Any = error.instance
    return str(next(k for k in required if k not in given))


def _attribute(path: list[Any]) -> tuple[int, str | None]:
    """Where the resource's attributes start in ``path`` and the attribute named."""
    start = 2 if len(path) > 1 and isinstance(path[1], int) else 1
    named = path[start] if len(path) > start else None
    return start, str(named) if named is not None else None


def wording(error: jsonschema.ValidationError, where: str) -> BarecloudError:
    """A refusal as Neutron's API layer words it."""
    path = list(error.absolute_path)
    value: Any = error.instance
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    if where == "query":
        name = str(path[0]) if path else "query"
        if name == "limit" and schema.get("type") == "integer":
            return HTTPBadRequest(f"Limit must be an integer 0 or greater and not "
                                  f"'{prefix(value)}'")
        if error.validator == "type" and error.validator_value == "boolean":
            return InvalidInput(f"{_shown(value)} cannot be converted to boolean")
        if error.validator == "type" and error.validator_value == "number":
            return invalid_attr(name, f"{_shown(value)} is not a number")
        return invalid_attr(name, _reason(error))
    if not path:
        if error.validator == "required":
            return HTTPBadRequest(f"Unable to find '{_missing(error)}' in request body")
        return HTTPBadRequest(f"Unable to find '{schema.get('title', 'resource')}' in "
                              "request body")
    if len(path) == 1 and (error.validator == "minItems" or (
            error.validator == "type" and error.validator_value == "array")):
        return HTTPBadRequest("Resources required")
    start, attr = _attribute(path)
    if attr is None:  # the resource itself
        if error.validator == "additionalProperties":
            known = set(schema.get("properties", {}))
            extra = sorted(str(k) for k in value if k not in known)
            return HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(extra)}'")
        if error.validator == "required":
            return HTTPBadRequest(f"Failed to parse request. Required attribute "
                                  f"'{_missing(error)}' not specified")
        if start == 2:
            return HTTPBadRequest(f"Invalid input for {path[0]}. Reason: {_shown(value)} "
                                  "is not an object.")
        return HTTPBadRequest(f"Invalid input for {path[0]}. Reason: the body is not an "
                              "object.")
    if schema.get("readOnly"):
        return HTTPBadRequest(f"Cannot update read-only attribute {attr}")
    if _declared(error).get("x-neutron-convert") == "boolean":
        return InvalidInput(f"{_shown(value)} cannot be converted to boolean")
    if len(path) > start + 1:  # inside the attribute (a pool, a fixed IP, ...)
        return invalid_attr(attr, f"Invalid data format for {attr}: {_shown(value)}")
    return invalid_attr(attr, _reason(error))
