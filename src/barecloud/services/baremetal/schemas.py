"""What a Bare Metal client may send, declared as JSON Schema (docs/design/input.md).

Modelled on Ironic's own declarations (ironic/api/schemas/v1/), with barecloud's
rules: strict types, booleans also in Ironic's string spellings (its clients send
``"True"``), and the lengths of the columns the values go into.  Checked by the API
(api/baremetal/inputs.py) and by the services, which check a node or port again
after a JSON patch (services/baremetal/checks.py words the errors as Ironic).
"""

from __future__ import annotations

import re
from typing import Any

from barecloud import states
from barecloud.drivers.base import INTERFACE_TYPES

Schema = dict[str, Any]

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
TRAIT_RE = re.compile(r"^(CUSTOM_[A-Z0-9_]+|[A-Z][A-Z0-9_]+)$")
# RFC 3986 unreserved characters, as Ironic's logical names.
NAME_PATTERN = r"^[A-Za-z0-9\-._~]+$"
# oslo's bool_from_string(strict=True) spellings, any case (services/validation.py).
BOOL_PATTERN = (r"^\s*([Tt]([Rr][Uu][Ee])?|[Yy]([Ee][Ss])?|[Oo][Nn]|1|"
                r"[Ff]([Aa][Ll][Ss][Ee])?|[Nn][Oo]?|[Oo][Ff][Ff]|0)\s*$")
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# --- pieces, reused by value --------------------------------------------------

UUID: Schema = {"type": ["string", "null"], "format": "uuid", "pattern": UUID_PATTERN}
NAME: Schema = {"type": ["string", "null"], "maxLength": 255, "pattern": NAME_PATTERN,
                "not": {"type": "string", "pattern": UUID_PATTERN}}
BOOL: Schema = {"type": ["boolean", "string"], "pattern": BOOL_PATTERN}
BOOL_OR_NULL: Schema = {"type": ["boolean", "string", "null"], "pattern": BOOL_PATTERN}
TEXT: Schema = {"type": ["string", "null"]}
TEXT_255: Schema = {"type": ["string", "null"], "maxLength": 255}
OBJECT: Schema = {"type": "object"}
RAID_CONFIG: Schema = {"title": "target RAID configuration", "type": "object"}
TRAIT: Schema = {"type": "string", "maxLength": 255, "pattern": TRAIT_RE.pattern}
MAC: Schema = {"type": "string", "format": "mac-address"}

# --- nodes --------------------------------------------------------------------

_NODE: Schema = {
    "uuid": UUID,
    "name": NAME,
    "description": {"type": ["string", "null"], "maxLength": 4096},
    "driver": {"type": "string", "maxLength": 255},
    "driver_info": OBJECT,
    "properties": OBJECT,
    "instance_info": OBJECT,
    "extra": OBJECT,
    "network_data": OBJECT,
    "resource_class": {"type": ["string", "null"], "maxLength": 80},
    "owner": TEXT_255,
    "lessee": TEXT_255,
    "conductor_group": {"type": "string", "maxLength": 255, "pattern": r"^[A-Za-z0-9_\-.]*$"},
    "chassis_uuid": UUID,
    "automated_clean": BOOL_OR_NULL,
    "protected": BOOL,
    "protected_reason": TEXT,
    "retired": BOOL,
    "retired_reason": TEXT,
    "instance_uuid": UUID,
    **{f"{iface}_interface": TEXT_255 for iface in INTERFACE_TYPES},
    "shard": TEXT_255,
    "parent_node": {"type": ["string", "null"], "maxLength": 255},
}
# What a node starts as when the request leaves a field out.
NODE_DEFAULTS: dict[str, Any] = {
    "driver_info": {}, "properties": {}, "instance_info": {}, "extra": {}, "network_data": {},
    "conductor_group": "", "protected": False, "retired": False,
}
CREATE_NODE: Schema = {
    "title": "node", "type": "object", "properties": _NODE, "required": ["driver"],
    "additionalProperties": False,
}
# A node as a JSON patch leaves it: every writable field (services/baremetal/nodes.py).
PATCHED_NODE: Schema = {
    "title": "node", "type": "object",
    "properties": {**{k: v for k, v in _NODE.items() if k != "uuid"},
                   "maintenance": BOOL_OR_NULL, "maintenance_reason": TEXT},
    "required": ["driver"], "additionalProperties": False,
}
NODE_WRITABLE = frozenset(PATCHED_NODE["properties"])
NODE_INTERNAL = frozenset({
    "uuid", "id", "provision_state", "target_provision_state", "power_state",
    "target_power_state", "provision_updated_at", "created_at", "updated_at", "reservation",
    "last_error", "driver_internal_info", "console_enabled", "clean_step", "deploy_step",
    "inspection_started_at", "inspection_finished_at", "fault", "conductor", "allocation_uuid",
    "traits", "links", "ports", "portgroups", "states", "volume",
})

# An RFC 6902 JSON patch, as Ironic's PATCH endpoints take it; which paths a
# resource lets a patch touch is the service's (services/baremetal/patch.py).
PATCH: Schema = {
    "title": "JSON patch", "type": "array", "minItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "op": {"enum": ["add", "replace", "remove", "test", "move", "copy"]},
            "path": {"type": "string", "pattern": "^/"},
            "from": {"type": "string", "pattern": "^/"},
            "value": {},
        },
        "required": ["op", "path"],
        "allOf": [
            {"if": {"properties": {"op": {"enum": ["add", "replace", "test"]}}},
             "then": {"required": ["value"]}},
            {"if": {"properties": {"op": {"enum": ["move", "copy"]}}},
             "then": {"required": ["from"]}},
        ],
    },
}

PROVISION: Schema = {
    "title": "provision state request", "type": "object",
    "properties": {
        "target": {"enum": sorted([*states.VERB_EVENTS, *states.NOWHERE_VERBS])},
        # A JSON object or a base64 ISO: drivers/agent.py check_configdrive says which.
        "configdrive": {"type": ["object", "string", "null"]},
        "clean_steps": {"type": ["array", "null"], "items": OBJECT},
        "service_steps": {"type": ["array", "null"], "items": OBJECT},
        "runbook": TEXT,
        "deploy_steps": {"type": ["array", "null"], "items": OBJECT},
        "rescue_password": TEXT,
        "disable_ramdisk": BOOL_OR_NULL,
    },
    "required": ["target"], "additionalProperties": False,
}
CONSOLE: Schema = {
    "title": "console state request", "type": "object",
    "properties": {"enabled": {"type": "boolean"}},
    "required": ["enabled"], "additionalProperties": False,
}

POWER: Schema = {
    "title": "power state request", "type": "object",
    "properties": {
        "target": {"type": "string"},  # states.POWER_TARGETS, checked by the service
        "timeout": {"type": ["integer", "null"], "minimum": 1},
    },
    "required": ["target"], "additionalProperties": False,
}
MAINTENANCE: Schema = {
    "title": "maintenance request", "type": "object", "examples": [{"reason": "..."}],
    "properties": {"reason": TEXT}, "additionalProperties": False,
}
BOOT_DEVICE: Schema = {
    "title": "boot device request", "type": "object",
    "properties": {
        "boot_device": {"type": "string"},  # drivers/base.py BOOT_DEVICES, by the service
        "persistent": {"type": "boolean", "default": False},
    },
    "required": ["boot_device"], "additionalProperties": False,
}
TRAITS: Schema = {
    "title": "traits", "type": "object", "examples": [{"traits": ["CUSTOM_GPU"]}],
    "properties": {"traits": {"type": "array", "items": TRAIT}},
    "required": ["traits"], "additionalProperties": False,
}
ATTACH_VIF: Schema = {
    "title": "VIF", "type": "object", "examples": [{"id": "<VIF id>"}],
    "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 255},
                   "port_uuid": {"type": "string"}, "portgroup_uuid": {"type": "string"}},
    "required": ["id"],
}

# --- ports --------------------------------------------------------------------

# An OVN VTEP switch's names (1.90): a port of a hardware VTEP instead of a switch.
VTEP_KEYS = ("vtep-logical-switch", "vtep-physical-switch")
LOCAL_LINK: Schema = {
    "title": "local_link_connection", "type": "object",
    "properties": {"switch_id": {"type": "string"}, "port_id": {"type": "string"},
                   "switch_info": {"type": "string"}, "network_type": {"type": "string"},
                   **{k: {"type": "string"} for k in VTEP_KEYS}},
    "additionalProperties": False,
    "dependentRequired": {VTEP_KEYS[0]: [VTEP_KEYS[1]], VTEP_KEYS[1]: [VTEP_KEYS[0]]},
    # Cabled (not "unmanaged"): which switch port (or VTEP port), so the port can be
    # bound.
    "if": {"minProperties": 1,
           "not": {"anyOf": [{"properties": {"network_type": {"const": "unmanaged"}},
                              "required": ["network_type"]},
                             {"required": [VTEP_KEYS[0]]}]}},
    "then": {"required": ["switch_id", "port_id"]},
    "else": {"if": {"required": [VTEP_KEYS[0]]}, "then": {"required": ["port_id"]}},
}
_PORT: Schema = {
    "uuid": UUID,
    "name": NAME,
    "address": MAC,
    "node_uuid": {"type": "string"},
    "extra": OBJECT,
    "local_link_connection": LOCAL_LINK,
    "pxe_enabled": BOOL,
    "physical_network": {"type": ["string", "null"], "maxLength": 64},
    "is_smartnic": BOOL,
    "description": TEXT,
    "portgroup_uuid": UUID,
}
PORT_DEFAULTS: dict[str, Any] = {"extra": {}, "local_link_connection": {}, "pxe_enabled": True,
                                 "is_smartnic": False}
CREATE_PORT: Schema = {
    "title": "port", "type": "object", "properties": _PORT,
    "required": ["address", "node_uuid"], "additionalProperties": False,
}
PORT_WRITABLE = frozenset(_PORT) - {"uuid"}
PORT_INTERNAL = frozenset({"uuid", "id", "created_at", "updated_at", "internal_info", "links"})

# --- allocations --------------------------------------------------------------

CREATE_ALLOCATION: Schema = {
    "title": "allocation", "type": "object",
    "properties": {
        "uuid": UUID,
        "name": NAME,
        "resource_class": {"type": ["string", "null"], "maxLength": 80},
        # null as "none": Ironic's ALLOCATION_SCHEMA allows it for every field.
        "traits": {"type": ["array", "null"], "items": TRAIT},
        "candidate_nodes": {"type": ["array", "null"], "items": {"type": "string"}},
        "extra": {"type": ["object", "null"]},
        "owner": TEXT_255,
        "node": TEXT,
    },
    "additionalProperties": False,
}
PATCHED_ALLOCATION: Schema = {
    "title": "allocation", "type": "object",
    "properties": {"name": NAME, "extra": {"type": ["object", "null"]}},
}

# --- chassis (Ironic's CHASSIS_SCHEMA) ------------------------------------------

_CHASSIS: Schema = {
    "uuid": UUID,
    "description": {"type": ["string", "null"], "maxLength": 255},
    "extra": {"type": ["object", "null"]},
}
CREATE_CHASSIS: Schema = {
    "title": "chassis", "type": "object", "properties": _CHASSIS,
    "additionalProperties": False,
}
PATCHED_CHASSIS: Schema = {
    "title": "chassis", "type": "object",
    "properties": {k: v for k, v in _CHASSIS.items() if k != "uuid"},
    "additionalProperties": False,
}
CHASSIS_WRITABLE = frozenset(PATCHED_CHASSIS["properties"])
CHASSIS_INTERNAL = frozenset({"uuid", "id", "created_at", "updated_at", "links", "nodes"})

# --- deploy templates (Ironic's DEPLOY_TEMPLATE_SCHEMA) ---------------------------

# The interfaces whose steps run in a deployment (Ironic's conductor/steps.py).
DEPLOY_STEP_INTERFACES = ("deploy", "power", "management", "bios", "raid", "firmware")
DEPLOY_STEP: Schema = {
    "type": "object",
    "properties": {
        "interface": {"enum": list(DEPLOY_STEP_INTERFACES)},
        "step": {"type": "string", "minLength": 1, "maxLength": 255},
        "args": {"type": "object"},
        "priority": {"type": "integer", "minimum": 0},
    },
    "required": ["interface", "step", "args", "priority"],
    "additionalProperties": False,
}
_DEPLOY_TEMPLATE: Schema = {
    "uuid": UUID,
    "name": TRAIT,
    "steps": {"type": "array", "minItems": 1, "items": DEPLOY_STEP},
    "extra": {"type": ["object", "null"]},
}


def _created_and_patched(title: str, props: Schema) -> tuple[Schema, Schema]:
    """A named set of steps as created (with ``uuid``), and as a patch leaves it."""
    created = {"title": title, "type": "object", "properties": props,
               "required": ["name", "steps"], "additionalProperties": False}
    patched = {**created, "properties": {k: v for k, v in props.items() if k != "uuid"}}
    return created, patched


CREATE_DEPLOY_TEMPLATE, PATCHED_DEPLOY_TEMPLATE = _created_and_patched("deploy template",
                                                                       _DEPLOY_TEMPLATE)
DEPLOY_TEMPLATE_WRITABLE = frozenset(PATCHED_DEPLOY_TEMPLATE["properties"])
DEPLOY_TEMPLATE_INTERNAL = frozenset({"uuid", "id", "created_at", "updated_at", "links"})

# --- runbooks (Ironic's RUNBOOK_SCHEMA, API 1.92) ----------------------------------

# The interfaces whose steps clean and service a node (Ironic's
# CLEANING_INTERFACE_PRIORITY).
RUNBOOK_STEP_INTERFACES = ("vendor", "power", "management", "firmware", "deploy", "bios",
                           "raid")
RUNBOOK_STEP: Schema = {
    "type": "object",
    "properties": {
        "interface": {"enum": list(RUNBOOK_STEP_INTERFACES)},
        "step": {"type": "string", "minLength": 1, "maxLength": 255},
        "args": {"type": "object"},
        "order": {"anyOf": [{"type": "integer", "minimum": 0},
                            {"type": "string", "minLength": 1, "pattern": "^[0-9]+$"}]},
    },
    "required": ["interface", "step", "order"],
    "additionalProperties": False,
}
_RUNBOOK: Schema = {
    "uuid": UUID,
    "name": TRAIT,
    "steps": {"type": "array", "minItems": 1, "items": RUNBOOK_STEP},
    "disable_ramdisk": BOOL_OR_NULL,
    "extra": {"type": ["object", "null"]},
    "public": BOOL_OR_NULL,
    "owner": TEXT_255,
}
CREATE_RUNBOOK, PATCHED_RUNBOOK = _created_and_patched("runbook", _RUNBOOK)
RUNBOOK_WRITABLE = frozenset(PATCHED_RUNBOOK["properties"])
RUNBOOK_INTERNAL = frozenset({"uuid", "id", "created_at", "updated_at", "links"})

# --- port groups (Ironic's PORTGROUP_SCHEMA, API 1.23; mode and properties 1.26) ---

_PORTGROUP: Schema = {
    "uuid": UUID,
    "name": NAME,
    "address": {"type": ["string", "null"], "format": "mac-address"},
    "node_uuid": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    "extra": {"type": ["object", "null"]},
    "standalone_ports_supported": BOOL_OR_NULL,
    "mode": {"type": ["string", "null"], "maxLength": 255},
    "properties": {"type": ["object", "null"]},
}
CREATE_PORTGROUP: Schema = {
    "title": "portgroup", "type": "object", "properties": _PORTGROUP,
    "required": ["node_uuid"], "additionalProperties": False,
}
PATCHED_PORTGROUP: Schema = {
    **CREATE_PORTGROUP,
    "properties": {k: v for k, v in _PORTGROUP.items() if k != "uuid"},
}
PORTGROUP_WRITABLE = frozenset(PATCHED_PORTGROUP["properties"])
PORTGROUP_INTERNAL = frozenset({"uuid", "id", "created_at", "updated_at", "internal_info",
                                "links", "ports"})

# --- volume connectors and targets (Ironic's, API 1.32) --------------------------

VOLUME_CONNECTOR_TYPES = ("iqn", "ip", "mac", "wwnn", "wwpn", "port", "portgroup")
_VOLUME_CONNECTOR: Schema = {
    "uuid": UUID,
    "node_uuid": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    "type": {"enum": list(VOLUME_CONNECTOR_TYPES)},
    "connector_id": {"type": "string", "minLength": 1, "maxLength": 255},
    "extra": {"type": ["object", "null"]},
}
CREATE_VOLUME_CONNECTOR: Schema = {
    "title": "volume connector", "type": "object", "properties": _VOLUME_CONNECTOR,
    "required": ["node_uuid", "type", "connector_id"], "additionalProperties": False,
}
PATCHED_VOLUME_CONNECTOR: Schema = {
    **CREATE_VOLUME_CONNECTOR,
    "properties": {k: v for k, v in _VOLUME_CONNECTOR.items() if k != "uuid"},
}
_VOLUME_TARGET: Schema = {
    "uuid": UUID,
    "node_uuid": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
    "volume_type": {"type": "string", "minLength": 1, "maxLength": 64},
    "volume_id": {"type": "string", "minLength": 1, "maxLength": 255},
    "boot_index": {"type": "integer", "minimum": 0},
    "properties": {"type": ["object", "null"]},
    "extra": {"type": ["object", "null"]},
}
CREATE_VOLUME_TARGET: Schema = {
    "title": "volume target", "type": "object", "properties": _VOLUME_TARGET,
    "required": ["node_uuid", "volume_type", "volume_id", "boot_index"],
    "additionalProperties": False,
}
PATCHED_VOLUME_TARGET: Schema = {
    **CREATE_VOLUME_TARGET,
    "properties": {k: v for k, v in _VOLUME_TARGET.items() if k != "uuid"},
}
VOLUME_INTERNAL = frozenset({"uuid", "id", "created_at", "updated_at", "links"})

# --- barecloud's deploy batches and the ramdisk agent -------------------------

DEPLOY_BATCH: Schema = {
    # Unknown fields and ``delivery`` are refused by the service, in its own words
    # (services/baremetal/batches.py): barecloud's resource, not Ironic's.
    "title": "deploy batch", "type": "object",
    "properties": {
        "nodes": {"type": "array", "minItems": 1, "maxItems": 5000,
                  "items": {"type": "string", "minLength": 1}},
        "image_source": TEXT,
        "delivery": {"type": ["string", "null"], "examples": ["chain", "http"]},
        "configdrive": {"type": ["object", "string", "null"]},
        "instance_info": {"type": ["object", "null"]},
    },
    "required": ["nodes"],
}
HEARTBEAT: Schema = {
    "title": "heartbeat", "type": "object",
    "properties": {"agent_token": TEXT, "agent_version": TEXT_255, "callback_url": TEXT_255},
}
HEARTBEAT_NAMED: Schema = {
    **HEARTBEAT, "properties": {**HEARTBEAT["properties"], "node_ident": {"type": "string"}},
    "required": ["node_ident"],
}
COMMAND_REPORT: Schema = {
    "title": "command report", "type": "object",
    "properties": {
        "status": {"enum": ["running", "succeeded", "failed"]},
        "result": {"type": ["object", "null"]},
        "progress": {"type": ["object", "null"]},
        "error": TEXT,
    },
    "required": ["status"],
}

# --- query strings ------------------------------------------------------------

LIMIT: Schema = {"type": "integer", "minimum": 1}
FIELDS: Schema = {"type": "string", "description": "Comma-separated field names (API 1.8)"}
SHOW_QUERY: Schema = {"type": "object", "properties": {"fields": FIELDS}}
_PAGE: Schema = {"limit": LIMIT, "marker": {"type": "string"}, "sort_key": {"type": "string"},
                 "sort_dir": {"type": "string", "examples": ["asc", "desc"]},
                 "fields": FIELDS, "detail": {"type": "boolean"}}
LIST_NODES_QUERY: Schema = {
    "type": "object",
    "properties": {
        **_PAGE,
        **{k: {"type": "string"} for k in (
            "provision_state", "driver", "resource_class", "owner", "lessee",
            "conductor_group", "fault", "instance_uuid", "description_contains",
            "chassis_uuid", "conductor", "shard", "parent_node")},
        **{k: {"type": "boolean"} for k in ("maintenance", "associated", "retired",
                                            "sharded", "include_children")},
    },
}
# Ironic's VMEDIA_ATTACH schema (1.89); device types are boot_devices.VMEDIA_DEVICES.
VMEDIA_DEVICES = ("disk", "cdrom", "floppy")
VMEDIA: Schema = {
    "title": "virtual media", "type": "object",
    "properties": {"device_type": {"enum": list(VMEDIA_DEVICES)},
                   "image_url": {"type": "string"},
                   "image_download_source": {"enum": ["local", "swift", "http"]}},
    "required": ["device_type", "image_url"], "additionalProperties": False,
}
DETACH_VMEDIA_QUERY: Schema = {"type": "object",
                               "properties": {"device_types": {"type": "string"}}}
CONTINUE_INSPECTION: Schema = {
    "title": "inspection data", "type": "object",
    "properties": {"inventory": {"type": "object",
                                 "properties": {"interfaces": {"type": "array"}},
                                 "required": ["interfaces"]},
                   "agent_token": {"type": "string"}},
    "required": ["inventory"],
}
PATCH_NODE_QUERY: Schema = {
    "type": "object", "properties": {"reset_interfaces": {"type": "boolean"}},
}
LIST_CHASSIS_QUERY: Schema = {"type": "object", "properties": _PAGE}
LIST_DEPLOY_TEMPLATES_QUERY: Schema = {"type": "object", "properties": _PAGE}
LIST_RUNBOOKS_QUERY: Schema = {"type": "object",
                               "properties": {**_PAGE, "project": {"type": "string"}}}
LIST_VOLUME_QUERY: Schema = {"type": "object", "properties": {**_PAGE, "node": {"type": "string"}}}
LIST_PORTS_QUERY: Schema = {
    "type": "object",
    "properties": {**_PAGE, "node": {"type": "string"}, "node_uuid": {"type": "string"},
                   "address": MAC, "portgroup": {"type": "string"},
                   "shard": {"type": "string"}},
}
LIST_PORTGROUPS_QUERY: Schema = {
    "type": "object",
    "properties": {**_PAGE, "node": {"type": "string"}, "address": MAC},
}
NODE_PORTS_QUERY: Schema = {
    "type": "object",
    "properties": {"limit": LIMIT, "marker": {"type": "string"}, "fields": FIELDS},
}
LIST_ALLOCATIONS_QUERY: Schema = {
    "type": "object",
    "properties": {"limit": LIMIT, "marker": {"type": "string"}, "fields": FIELDS,
                   **{k: {"type": "string"} for k in ("node", "resource_class", "state",
                                                       "owner")}},
}
HISTORY_QUERY: Schema = {
    "type": "object",
    "properties": {"limit": LIMIT, "marker": {"type": "string"}, "detail": {"type": "boolean"}},
}
BIOS_QUERY: Schema = {"type": "object",
                      "properties": {"detail": {"type": "boolean"}, "fields": FIELDS}}
LIST_DRIVERS_QUERY: Schema = {
    "type": "object",
    "properties": {"type": {"enum": ["classic", "dynamic"]}, "detail": {"type": "boolean"}},
}
LOOKUP_QUERY: Schema = {
    "type": "object",
    "properties": {"addresses": {"type": "string", "description": "Comma-separated MACs"},
                   "node_uuid": {"type": "string"}},
}
COMMAND_QUERY: Schema = {
    "type": "object",
    "properties": {"wait": {"type": "number", "minimum": 0, "default": 0,
                            "description": "Seconds to wait for a command (at most 60)"}},
}
