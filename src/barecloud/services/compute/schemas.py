"""What a Compute client may send, declared as Nova declares it (JSON Schema), and
Nova's wording of a refusal.

Modelled on nova/api/openstack/compute/schemas/ and nova/api/validation/.  A
declaration that changes with the microversion (Nova's ``@validation.schema(...,
min_version, max_version)``) is a ``Versioned``: built for a version when a
request is checked, and for ``None`` (every version's keys at once) for
/openapi.json.  The API checks requests against these (api/compute/inputs.py);
the services then read documents that are known to fit them.

Two things JSON Schema cannot say stay as functions here: an integer Nova also
takes as a string of digits is one only once converted (``to_int``, which also
applies the declared bounds a string's digits escape), and Nova's booleans come
in its many spellings (``to_bool``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from barecloud.errors import InvalidParameter, prefix, quote
from barecloud.services.validation import TRUE_STRINGS, Checker, Schema

V = tuple[int, int]
MAX_INT = 2**31 - 1
# Names Nova allows for servers, flavors and the like: printable, no leading or
# trailing white space.
NAME_PATTERN = r"^(?!\s)[^\x00-\x1f\x7f]*(?<!\s)$"
HOSTNAME_PATTERN = r"^[a-zA-Z0-9-._]*$"
FLAVOR_ID_PATTERN = r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"
SPEC_KEY_PATTERN = r"^[a-zA-Z0-9-_:. /]{1,255}$"
KEYPAIR_NAME_PATTERN = r"^[a-zA-Z0-9 _-]+$"
KEYPAIR_NAME_PATTERN_292 = r"^[a-zA-Z0-9 @._-]+$"  # 2.92 widened the names
DIGITS = r"^-?[0-9]+$"
BOOLEAN_SPELLINGS = [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes",
                     "yes", False, "False", "FALSE", "false", "0", "OFF", "Off", "off",
                     "NO", "No", "no"]


# --- wording ---------------------------------------------------------------
def invalid(field_name: str, value: Any, reason: str) -> InvalidParameter:
    """Nova's refusal of a body field, for the checks made by hand."""
    return InvalidParameter(f"Invalid input for field/attribute {field_name}. "
                            f"Value: {prefix(value)}. {reason}")


def _reported(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The error to report.  ``best_match`` goes into the ``oneOf``/``anyOf`` branch
    that fits the value best; when no branch fits the value itself (not something
    inside it), Nova says the value fits none of them."""
    while (isinstance(error.parent, jsonschema.ValidationError)
           and error.parent.validator in ("oneOf", "anyOf")
           and list(error.absolute_path) == list(error.parent.absolute_path)):
        error = error.parent
    return error


def _types(schema: Any) -> tuple[str, ...]:
    kind = schema.get("type", ()) if isinstance(schema, dict) else ()
    return (kind,) if isinstance(kind, str) else tuple(kind)


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "minLength":
        # jsonschema now says "should be non-empty" for a minimum of 1; clients
        # have been shown Nova's older words.
        return f"{quote(error.instance)} is too short"
    kinds = _types(error.schema)
    if error.validator == "pattern" and "string" in kinds and kinds[0] in ("integer", "number"):
        # A number may come as a string of digits; other text is the wrong type (but a
        # text that may be a number, a flavor's id, is text that does not match).
        listed = ", ".join(repr(k) for k in kinds)
        return f"{quote(error.instance)} is not of type {listed}"
    return error.message


def _query_message(name: str, error: jsonschema.ValidationError) -> str | None:
    """Nova's own words for ``limit`` (nova/api/openstack/common.py), which its
    clients and barecloud's tests know."""
    if name != "limit":
        return None
    if error.validator == "minimum":
        return "limit param must be positive"
    if error.validator == "type":
        return "limit param must be an integer"
    return None


def wording(error: jsonschema.ValidationError, where: str) -> InvalidParameter:
    """Nova's ``ValidationError`` text (nova/api/validation/validators.py): the field
    (the last step of the path) and its value, or the bare message at the top."""
    error = _reported(error)
    path = list(error.absolute_path)
    if not path:
        return InvalidParameter(error.message)
    if where == "query":
        name = str(path[0])
        own = _query_message(name, error)
        if own is not None:
            return InvalidParameter(own)
        return InvalidParameter(f"Invalid input for query parameters {name}. "
                                f"Value: {prefix(error.instance)}. {_message(error)}")
    return InvalidParameter(f"Invalid input for field/attribute {path[-1]}. "
                            f"Value: {prefix(error.instance)}. {_message(error)}")


# --- conversions JSON Schema cannot make --------------------------------------
def to_int(data: dict[str, Any], key: str, prop: Schema, default: int | None = None) -> int | None:
    """``data[key]`` (declared by ``prop``) as an int; the declared bounds applied to
    a string of digits too, which JSON Schema checks only as text."""
    value = data.get(key)
    if value is None:
        return default
    number = int(value)
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None and number < low:
        raise invalid(key, value, f"{quote(value)} is less than the minimum of {low}")
    if high is not None and number > high:
        raise invalid(key, value, f"{quote(value)} is greater than the maximum of {high}")
    return number


def to_bool(value: Any, default: bool = False) -> bool:
    """One of Nova's boolean spellings (``BOOLEAN``, already checked) as a bool."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_STRINGS


# --- shared pieces (reused by value, no "$ref") -------------------------------
def integer(minimum: int | None = None, maximum: int = MAX_INT, *,
            pattern: str = DIGITS) -> Schema:
    """Nova's integers: a JSON integer, or a string of digits."""
    prop: Schema = {"type": ["integer", "string"], "pattern": pattern, "maximum": maximum}
    if minimum is not None:
        prop["minimum"] = minimum
    return prop


def string(max_length: int = 255, *, min_length: int = 0, pattern: str | None = None,
           nullable: bool = False) -> Schema:
    prop: Schema = {"type": ["string", "null"] if nullable else "string",
                    "maxLength": max_length}
    if min_length:
        prop["minLength"] = min_length
    if pattern is not None:
        prop["pattern"] = pattern
    return prop


BOOLEAN: Schema = {"type": ["boolean", "string"], "enum": BOOLEAN_SPELLINGS}
NAME = string(min_length=1, pattern=NAME_PATTERN)
HOSTNAME = string(min_length=1, pattern=HOSTNAME_PATTERN)
DESCRIPTION = string(nullable=True)
KEY_NAME = string(min_length=1, nullable=True)
UUID: Schema = {"type": "string", "format": "uuid"}
DISK_CONFIG: Schema = {"type": "string", "enum": ["AUTO", "MANUAL"]}
ACCESS_IP4: Schema = {"type": "string", "format": "ipv4"}
ACCESS_IP6: Schema = {"type": "string", "format": "ipv6"}
STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
# Nova's parameter_types.tag; 50 a server (nova/objects/instance.py MAX_TAG_COUNT).
TAG: Schema = {"type": "string", "pattern": "^[^,/]*$", "minLength": 1, "maxLength": 60}
TAGS: Schema = {"type": "array", "items": TAG, "maxItems": 50}
OBJECTS: Schema = {"type": "array", "items": {"type": "object"}}
# Metadata's keys and values are checked by hand (servers.check_metadata): its
# words ("metadata value of ...") are what clients have been shown.
METADATA: Schema = {"type": "object"}
USER_DATA: Schema = {"type": ["string", "null"]}  # base64 and size: servers.decode_user_data
COUNT = integer(1)
CONSOLE_LENGTH = integer(-1)
QUOTA_VALUE = integer()  # "-1 or greater" is said by hand (quotas.update)
RAM = integer(1)
VCPUS = integer(1)
DISK = integer(0)
SWAP = integer(0, pattern=r"^[0-9]*$")  # "" is no swap, as Nova's
RXTX: Schema = {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                "exclusiveMinimum": 0, "maximum": 3.40282e38}
SPEC_VALUE: Schema = {"type": ["string", "number", "boolean"], "maxLength": 255}
SPECS: Schema = {"type": "object", "propertyNames": {"pattern": SPEC_KEY_PATTERN},
                 "additionalProperties": SPEC_VALUE}
NETWORKS: Schema = {"oneOf": [
    {"type": "array", "items": {
        "type": "object",
        "properties": {"uuid": UUID, "port": UUID, "fixed_ip": {"type": "string"},
                       "tag": string(60)},
        "additionalProperties": False}},
    {"type": "string", "enum": ["none", "auto"]},
]}
SCHEDULER_HINTS: Schema = {"type": "object", "additionalProperties": True,
                           "properties": {"group": {"type": "string", "format": "uuid"}}}


def since(version: V | None, first: V) -> bool:
    """Whether a key added in ``first`` is declared (``None``: every version's)."""
    return version is None or version >= first


def before(version: V | None, removed: V) -> bool:
    """Whether a key removed in ``removed`` is declared."""
    return version is None or version < removed


@dataclass(eq=False)
class Versioned:
    """A declaration that depends on the microversion: ``build(version)``, and
    ``build(None)`` for every version's keys at once (what /openapi.json shows)."""

    build: Callable[[V | None], Schema]
    _checkers: dict[V, Checker] = field(default_factory=dict, repr=False)

    @property
    def published(self) -> Schema:
        return self.build(None)

    def checker(self, version: V) -> Checker:
        found = self._checkers.get(version)
        if found is None:
            found = self._checkers[version] = Checker(self.build(version), wording)
        return found


def _body(key: str, inner: Schema, *, extra: Schema | None = None) -> Schema:
    """``{"<key>": {...}}``, as every Nova body is wrapped."""
    return {"type": "object", "properties": {key: inner, **(extra or {})},
            "required": [key], "additionalProperties": False}


def _object(properties: Schema, required: list[str] | None = None) -> Schema:
    inner: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        inner["required"] = required
    return inner


# --- servers ---------------------------------------------------------------
def _create_server(version: V | None) -> Schema:
    props: Schema = {
        "name": NAME, "imageRef": {"type": ["string", "null"]},
        "flavorRef": {"type": ["string", "integer"], "minLength": 1},
        "key_name": KEY_NAME, "user_data": USER_DATA, "metadata": METADATA,
        "networks": NETWORKS, "availability_zone": string(nullable=True),
        "min_count": COUNT, "max_count": COUNT, "return_reservation_id": BOOLEAN,
        "security_groups": {"type": "array", "items": _object({"name": NAME})},
        "adminPass": {"type": "string"}, "config_drive": BOOLEAN,
        "OS-DCF:diskConfig": DISK_CONFIG, "accessIPv4": ACCESS_IP4, "accessIPv6": ACCESS_IP6,
        "block_device_mapping": OBJECTS, "block_device_mapping_v2": OBJECTS,
    }
    if before(version, (2, 57)):
        props["personality"] = OBJECTS
    if since(version, (2, 19)):
        props["description"] = DESCRIPTION
    if since(version, (2, 52)):
        props["tags"] = TAGS
    if since(version, (2, 63)):
        props["trusted_image_certificates"] = {"type": ["array", "null"],
                                               "items": {"type": "string"}}
    if since(version, (2, 74)):
        props["host"] = {"type": "string"}
        props["hypervisor_hostname"] = {"type": "string"}
    if since(version, (2, 90)):
        props["hostname"] = HOSTNAME
    required = ["name", "flavorRef"]
    if version is not None and version >= (2, 37):
        required.append("networks")
    return _body("server", _object(props, required), extra={
        "os:scheduler_hints": SCHEDULER_HINTS, "OS-SCH-HNT:scheduler_hints": SCHEDULER_HINTS})


CREATE_SERVER = Versioned(_create_server)


def _update_server(version: V | None) -> Schema:
    props: Schema = {"name": NAME, "OS-DCF:diskConfig": DISK_CONFIG,
                     "accessIPv4": ACCESS_IP4, "accessIPv6": ACCESS_IP6}
    if since(version, (2, 19)):
        props["description"] = DESCRIPTION
    if since(version, (2, 90)):
        props["hostname"] = HOSTNAME
    return _body("server", _object(props))


UPDATE_SERVER = Versioned(_update_server)


def _rebuild(version: V | None) -> Schema:
    props: Schema = {
        "imageRef": {"type": "string"}, "name": NAME, "metadata": METADATA,
        "adminPass": {"type": "string"}, "preserve_ephemeral": BOOLEAN,
        "OS-DCF:diskConfig": DISK_CONFIG, "accessIPv4": ACCESS_IP4, "accessIPv6": ACCESS_IP6,
    }
    if since(version, (2, 19)):
        props["description"] = DESCRIPTION
    if since(version, (2, 54)):
        props["key_name"] = KEY_NAME
    if since(version, (2, 57)):
        props["user_data"] = USER_DATA
    if since(version, (2, 63)):
        props["trusted_image_certificates"] = {"type": ["array", "null"],
                                               "items": {"type": "string"}}
    if since(version, (2, 90)):
        props["hostname"] = HOSTNAME
    return _object(props, ["imageRef"])


RESIZE = _object({"flavorRef": {"type": ["string", "integer"], "minLength": 1},
                  "OS-DCF:diskConfig": DISK_CONFIG}, ["flavorRef"])
REBOOT = _object({"type": {"type": "string",
                           "enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}}, ["type"])
CONSOLE_OUTPUT: Schema = {"type": ["object", "null"], "properties": {"length": {
    **CONSOLE_LENGTH, "type": ["integer", "string", "null"]}}, "additionalProperties": False}


def _console_action(types: list[str]) -> Schema:
    """The pre-2.6 console actions' body (``type`` optional: the handler says it)."""
    return _object({"type": {"type": "string", "enum": types}})


def _server_action(version: V | None) -> Schema:
    """POST /servers/{id}/action: one action a body; which one, and the refusal of
    unknown ones, is the handler's (Nova routes by the key)."""
    return {"type": "object", "properties": {
        "reboot": REBOOT, "rebuild": _rebuild(version), "os-getConsoleOutput": CONSOLE_OUTPUT,
        "resize": RESIZE, "confirmResize": {"type": "null"},
        "os-getSerialConsole": _console_action(["serial"]),
        "os-getVNCConsole": _console_action(["novnc", "xvpvnc"]),
        "os-resetState": _object({"state": {"type": "string", "enum": ["active", "error"]}},
                                 ["state"]),
        "injectNetworkInfo": {"type": ["null", "object"]},  # tempest sends {}
        "lock": ({"type": ["object", "null"], "properties": {"locked_reason": {
            "type": "string", "minLength": 1, "maxLength": 255}},
            "additionalProperties": False} if since(version, (2, 73))
            else {"type": ["object", "null"], "additionalProperties": False}),
        "unlock": {"type": ["object", "null"], "additionalProperties": False},
        **({"addFloatingIp": ADD_FLOATING_IP, "removeFloatingIp": REMOVE_FLOATING_IP}
           if version is None or version <= (2, 43) else {}),
    }}


def _remote_console(version: V | None) -> Schema:
    """POST /servers/{id}/remote-consoles (2.6; ``mks`` from 2.8), as Nova's."""
    protocols = ["vnc", "spice", "rdp", "serial"]
    types = ["novnc", "xvpvnc", "rdp-html5", "spice-html5", "serial"]
    if since(version, (2, 8)):
        protocols.append("mks")
        types.append("webmks")
    return _body("remote_console", _object({
        "protocol": {"type": "string", "enum": protocols},
        "type": {"type": "string", "enum": types}}, ["protocol", "type"]))


REMOTE_CONSOLE = Versioned(_remote_console)


SERVER_ACTION = Versioned(_server_action)

SORT_KEYS = ["created_at", "updated_at", "display_name", "display_description", "uuid",
             "vm_state", "task_state", "power_state", "launched_at", "terminated_at",
             "key_name", "image_ref", "hostname", "launch_index", "availability_zone",
             "project_id", "user_id", "host", "node", "instance_type_id",
             # Nova's valid keys with no column here: accepted, and ignored.
             "access_ip_v4", "access_ip_v6", "auto_disk_config", "config_drive",
             "kernel_id", "locked", "locked_by", "progress", "ramdisk_id",
             "root_device_name"]
TEXT: Schema = {"type": "string"}
LIMIT: Schema = {"type": "integer", "minimum": 0}
SORT_DIR: Schema = {"type": "string", "enum": ["asc", "desc"]}
FILTERS = ("name", "status", "flavor", "image", "reservation_id", "availability_zone",
           "user_id", "host", "deleted", "project_id", "tenant_id", "ip", "ip6")


def _list_servers(version: V | None) -> Schema:
    props: Schema = {name: TEXT for name in FILTERS}
    props.update({
        "changes-since": {"type": "string", "format": "date-time"},
        "all_tenants": TEXT, "limit": LIMIT, "marker": TEXT,
        "sort_key": {"type": "string", "enum": SORT_KEYS}, "sort_dir": SORT_DIR,
    })
    if since(version, (2, 66)):
        props["changes-before"] = {"type": "string", "format": "date-time"}
    # Nova ignores query parameters it does not know.
    return {"type": "object", "properties": props}


LIST_SERVERS_QUERY = Versioned(_list_servers)

# --- flavors ---------------------------------------------------------------
FLAVOR_SORT_KEYS = ["created_at", "description", "disabled", "ephemeral_gb", "flavorid",
                    "id", "is_public", "memory_mb", "name", "root_gb", "rxtx_factor",
                    "swap", "updated_at", "vcpus"]
LIST_FLAVORS_QUERY: Schema = {"type": "object", "properties": {
    "is_public": TEXT, "minRam": TEXT, "minDisk": TEXT,  # read by hand, as Nova's
    "limit": LIMIT, "marker": TEXT,
    "sort_key": {"type": "string", "enum": FLAVOR_SORT_KEYS}, "sort_dir": SORT_DIR,
}}


def _create_flavor(version: V | None) -> Schema:
    props: Schema = {
        "name": NAME, "ram": RAM, "vcpus": VCPUS, "disk": DISK,
        # A number is taken as its text, as Nova's (tempest creates flavors with int ids).
        "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
               "pattern": FLAVOR_ID_PATTERN},
        "OS-FLV-EXT-DATA:ephemeral": DISK, "swap": SWAP, "rxtx_factor": RXTX,
        "os-flavor-access:is_public": BOOLEAN,
    }
    if since(version, (2, 55)):
        props["description"] = string(65535, nullable=True)
    return _body("flavor", _object(props, ["name", "ram", "vcpus", "disk"]))


CREATE_FLAVOR = Versioned(_create_flavor)


def _update_flavor(version: V | None) -> Schema:
    if version is not None and version < (2, 55):
        return {}  # no such method before 2.55: the handler's 404, whatever the body
    return _body("flavor", _object({"description": string(65535, nullable=True)},
                                   ["description"]))


UPDATE_FLAVOR = Versioned(_update_flavor)
CREATE_SPECS = _body("extra_specs", SPECS)
# {"<key>": value}: that it names the URI's key, and only it, is said by hand.
UPDATE_SPEC = SPECS
_TENANT = _object({"tenant": string(min_length=1)}, ["tenant"])
FLAVOR_ACTION: Schema = {"type": "object", "properties": {
    "addTenantAccess": _TENANT, "removeTenantAccess": _TENANT}}

# --- key pairs ----------------------------------------------------------------


def _create_keypair(version: V | None) -> Schema:
    old = version is not None and version < (2, 92)
    props: Schema = {
        "name": string(min_length=1, pattern=KEYPAIR_NAME_PATTERN if old
                       else KEYPAIR_NAME_PATTERN_292),
        "public_key": string(65535),
    }
    if since(version, (2, 2)):
        props["type"] = {"type": "string", "enum": ["ssh", "x509"]}
    if since(version, (2, 10)):
        props["user_id"] = TEXT
    required = ["name"]
    if version is not None and version >= (2, 92):
        required.append("public_key")  # 2.92 stopped generating keys
    return _body("keypair", _object(props, required))


CREATE_KEYPAIR = Versioned(_create_keypair)


def _keypairs_query(version: V | None) -> Schema:
    props: Schema = {}
    if since(version, (2, 10)):
        props["user_id"] = TEXT
    if since(version, (2, 35)):
        props.update({"limit": LIMIT, "marker": TEXT})
    return {"type": "object", "properties": props}


LIST_KEYPAIRS_QUERY = Versioned(_keypairs_query)


def _keypair_query(version: V | None) -> Schema:
    props: Schema = {"user_id": TEXT} if since(version, (2, 10)) else {}
    return {"type": "object", "properties": props}


KEYPAIR_QUERY = Versioned(_keypair_query)

# --- quotas, limits, hypervisors ---------------------------------------------
QUOTA_NAMES = ("instances", "cores", "ram", "metadata_items", "key_pairs", "server_groups",
               "server_group_members")
NETWORK_QUOTAS = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
INJECTED_QUOTAS = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")


def _update_quotas(version: V | None) -> Schema:
    names = list(QUOTA_NAMES)
    if before(version, (2, 36)):
        names += NETWORK_QUOTAS
    if before(version, (2, 57)):
        names += INJECTED_QUOTAS
    props: Schema = {name: QUOTA_VALUE for name in names}
    props["force"] = BOOLEAN
    return _body("quota_set", _object(props))


UPDATE_QUOTAS = Versioned(_update_quotas)


def _update_quota_class(version: V | None) -> Schema:
    names = ["instances", "cores", "ram", "metadata_items", "key_pairs"]
    if before(version, (2, 57)):
        names += INJECTED_QUOTAS
    if before(version, (2, 50)):
        names += NETWORK_QUOTAS
    if since(version, (2, 50)):
        names += ["server_groups", "server_group_members"]
    return _body("quota_class_set", _object({name: QUOTA_VALUE for name in names}))


UPDATE_QUOTA_CLASS = Versioned(_update_quota_class)
LIMITS_QUERY: Schema = {"type": "object", "properties": {"tenant_id": TEXT}}
# --- an admin's aggregates (nova/api/openstack/compute/schemas/aggregates.py) ---------
_AGGREGATE_ZONE: Schema = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
CREATE_AGGREGATE: Schema = {
    "type": "object", "required": ["aggregate"], "additionalProperties": False,
    "properties": {"aggregate": _object({"name": string(255, min_length=1),
                                         "availability_zone": _AGGREGATE_ZONE}, ["name"])}}
UPDATE_AGGREGATE: Schema = {
    "type": "object", "required": ["aggregate"], "additionalProperties": False,
    "properties": {"aggregate": {**_object({"name": string(255, min_length=1),
                                            "availability_zone": _AGGREGATE_ZONE}),
                                 "minProperties": 1}}}
_AGGREGATE_HOST: Schema = _object({"host": string(255, min_length=1)}, ["host"])
AGGREGATE_ACTION: Schema = {
    "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
    "properties": {
        "add_host": _AGGREGATE_HOST, "remove_host": _AGGREGATE_HOST,
        "set_metadata": _object({"metadata": {
            "type": "object", "additionalProperties": False,
            "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {
                "type": ["string", "null"], "maxLength": 255}}}}, ["metadata"])}}
_HOST_SWITCH: Schema = {"type": "string", "enum": ["enable", "disable", "Enable", "Disable",
                                                 "ENABLE", "DISABLE"]}
UPDATE_HOST: Schema = {  # nova/api/openstack/compute/schemas/hosts.py
    "type": "object", "additionalProperties": False,
    "properties": {"status": _HOST_SWITCH, "maintenance_mode": _HOST_SWITCH},
    "anyOf": [{"required": ["status"]}, {"required": ["maintenance_mode"]}]}
LIST_HYPERVISORS_QUERY: Schema = {"type": "object", "properties": {
    "hypervisor_hostname_pattern": TEXT, "limit": LIMIT, "marker": TEXT,
    "with_servers": TEXT,  # any other spelling than a true one is false, as before
}}
SHOW_HYPERVISOR_QUERY: Schema = {"type": "object", "properties": {"with_servers": TEXT}}

# --- the security-group proxies (2.1 to 2.35; Nova's keys, extra keys let through) ----
SECURITY_GROUP: Schema = {
    "type": "object", "required": ["security_group"],
    "properties": {"security_group": {
        "type": "object", "required": ["name", "description"],
        "properties": {"name": string(), "description": string()}}}}
SECURITY_GROUP_RULE: Schema = {
    "type": "object", "required": ["security_group_rule"],
    "properties": {"security_group_rule": {
        "type": "object", "required": ["parent_group_id"],
        "properties": {"group_id": {"type": ["string", "null"], "format": "uuid"},
                       "parent_group_id": UUID, "to_port": {}, "from_port": {},
                       "ip_protocol": {}, "cidr": {}}}}}
# Nova's floating-IP proxy reads no schema: only ``pool`` is looked at.
CREATE_FLOATING_IP: Schema = {"type": ["object", "null"],
                              "properties": {"pool": {"type": ["string", "null"]}}}
IP_ADDRESS: Schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
ADD_FLOATING_IP: Schema = _object({"address": IP_ADDRESS, "fixed_address": IP_ADDRESS},
                                  ["address"])
REMOVE_FLOATING_IP: Schema = _object({"address": IP_ADDRESS}, ["address"])
LIST_SECURITY_GROUPS_QUERY: Schema = {
    "type": "object", "properties": {"limit": LIMIT, "offset": LIMIT, "all_tenants": TEXT}}

# --- server metadata and tags (nova/api/openstack/compute/schemas/server_*.py) ------
SERVER_METADATA_ITEMS: Schema = {
    "type": "object", "additionalProperties": False,
    "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
}
SERVER_METADATA = _body("metadata", SERVER_METADATA_ITEMS)
SERVER_META_ITEM = _body("meta", {**SERVER_METADATA_ITEMS, "minProperties": 1,
                                  "maxProperties": 1})
SERVER_TAGS = _body("tags", TAGS)

# --- os-instance-actions (2.58: pages and times; below, Nova ignores the query) -----
INSTANCE_ACTIONS_QUERY: Schema = {"type": "object", "properties": {
    "limit": LIMIT, "marker": TEXT, "changes-since": {"type": "string", "format": "date-time"},
    "changes-before": {"type": "string", "format": "date-time"}}}

# --- os-server-external-events (nova/api/openstack/compute/schemas/server_external_events.py)
# Each event name from the microversion that added it.
EVENT_NAMES: tuple[tuple[str, V], ...] = (
    ("network-changed", (2, 1)), ("network-vif-plugged", (2, 1)),
    ("network-vif-unplugged", (2, 1)), ("network-vif-deleted", (2, 1)),
    ("volume-extended", (2, 51)), ("power-update", (2, 76)),
    ("accelerator-request-bound", (2, 82)), ("volume-reimaged", (2, 93)))


def _external_events(version: V | None) -> Schema:
    event = _object({
        "server_uuid": {"type": "string", "format": "uuid"},
        "name": {"type": "string", "enum": [n for n, first in EVENT_NAMES
                                             if since(version, first)]},
        "status": {"type": "string", "enum": ["failed", "completed", "in-progress"]},
        "tag": {"type": "string", "maxLength": 255}}, ["server_uuid", "name"])
    return _body("events", {"type": "array", "minItems": 1, "items": event})


EXTERNAL_EVENTS = Versioned(_external_events)

# --- os-migrations (nova/api/openstack/compute/schemas/migrations.py) -------------
def _migrations_query(version: V | None) -> Schema:
    props: Schema = {name: TEXT for name in (
        "hidden", "host", "instance_uuid", "source_compute", "status", "migration_type")}
    if since(version, (2, 59)):
        props.update({"limit": LIMIT, "marker": TEXT,
                      "changes-since": {"type": "string", "format": "date-time"}})
    if since(version, (2, 66)):
        props["changes-before"] = {"type": "string", "format": "date-time"}
    if since(version, (2, 80)):
        props.update({"user_id": TEXT, "project_id": TEXT})
    # Nova's schema takes any other parameter below 2.59 and none from then.
    closed = version is not None and since(version, (2, 59))
    return {"type": "object", "properties": props, "additionalProperties": not closed}


MIGRATIONS_QUERY = Versioned(_migrations_query)

# --- os-server-groups (nova/api/openstack/compute/schemas/server_groups.py) --------
GROUP_POLICIES = ("anti-affinity", "affinity")
SOFT_POLICIES = ("soft-anti-affinity", "soft-affinity")


def _create_server_group(version: V | None) -> Schema:
    allowed = [*GROUP_POLICIES, *(SOFT_POLICIES if since(version, (2, 15)) else ())]
    props: Schema = {"name": NAME}
    required = ["name"]
    if before(version, (2, 64)):
        props["policies"] = {"type": "array", "prefixItems": [
            {"type": "string", "enum": allowed}],
            "uniqueItems": True, "minItems": 1, "maxItems": 1}
        required.append("policies")
    if since(version, (2, 64)):
        props["policy"] = {"type": "string", "enum": allowed}
        props["rules"] = _object({"max_server_per_host": {
            "type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1}})
        if version is not None:
            required.append("policy")
    return _body("server_group", _object(props, required))


CREATE_SERVER_GROUP = Versioned(_create_server_group)
SERVER_GROUPS_QUERY: Schema = {"type": "object", "properties": {
    "all_projects": TEXT, "limit": LIMIT, "offset": LIMIT}}

# --- os-services and os-hosts -------------------------------------------------------
SERVICES_QUERY: Schema = {"type": "object", "properties": {"host": TEXT, "binary": TEXT}}
HOSTS_QUERY: Schema = {"type": "object", "properties": {"zone": TEXT}}

# --- os-simple-tenant-usage (times read by hand, in Nova's three spellings) ----------
USAGE_QUERY: Schema = {"type": "object", "properties": {
    "start": TEXT, "end": TEXT, "detailed": TEXT, "limit": LIMIT, "marker": TEXT}}

# --- the image proxy (below 2.36; its metadata below 2.39) --------------------------
IMAGES_QUERY: Schema = {"type": "object", "properties": {
    "name": TEXT, "status": TEXT, "changes-since": {"type": "string", "format": "date-time"},
    "server": TEXT, "type": TEXT, "minRam": TEXT, "minDisk": TEXT, "limit": LIMIT,
    "marker": TEXT}}
# nova/api/openstack/compute/schemas/image_metadata.py: parameter_types.metadata.
IMAGE_METADATA = _body("metadata", SERVER_METADATA_ITEMS)
IMAGE_META_ITEM = _body("meta", {**SERVER_METADATA_ITEMS, "minProperties": 1,
                                 "maxProperties": 1})
