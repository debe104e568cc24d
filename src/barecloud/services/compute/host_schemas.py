"""What an operator sends to enrol hypervisors, and what a host agent sends
(docs/design/host-agent-protocol.md), declared once as JSON Schema."""

from __future__ import annotations

from barecloud.services.compute.schemas import HOSTNAME_PATTERN, NAME_PATTERN
from barecloud.services.compute.vm_states import VM_STATES
from barecloud.services.validation import Schema

_COUNT: Schema = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_HOSTNAME: Schema = {"type": "string", "minLength": 1, "maxLength": 255,
                     "pattern": HOSTNAME_PATTERN}

# Either a host enrolled as it is (``hostname``: its credential is in the
# answer), or machines to deploy as hypervisors (``nodes``, one deploy batch).
CREATE_HYPERVISOR: Schema = {
    "type": "object", "required": ["hypervisor"], "additionalProperties": False,
    "properties": {"hypervisor": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "hostname": _HOSTNAME,
            "nodes": {"type": "array", "minItems": 1, "maxItems": 1000, "uniqueItems": True,
                      "items": {"type": "string", "minLength": 1, "maxLength": 255}},
            "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255,
                                  "pattern": NAME_PATTERN},
            "owner": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
        },
        "oneOf": [
            {"required": ["hostname"], "not": {"required": ["nodes"]}},
            {"required": ["nodes"],
             "not": {"anyOf": [{"required": ["hostname"]}, {"required": ["owner"]}]}},
        ],
    }},
}

UPDATE_HYPERVISOR: Schema = {
    "type": "object", "required": ["hypervisor"], "additionalProperties": False,
    "properties": {"hypervisor": {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {
            "status": {"type": "string", "enum": ["enabled", "disabled"]},
            "disabled_reason": {"type": ["string", "null"], "maxLength": 255},
        },
    }},
}

HOST_REPORT: Schema = {
    "type": "object", "required": ["capacity"], "additionalProperties": False,
    "properties": {
        "hypervisor_type": {"type": "string", "minLength": 1, "maxLength": 32},
        "hypervisor_version": _COUNT,
        "host_ip": {"type": ["string", "null"], "maxLength": 64},
        "capacity": {
            "type": "object", "required": ["vcpus", "memory_mb", "disk_gb"],
            "additionalProperties": False,
            "properties": {"vcpus": _COUNT, "memory_mb": _COUNT, "disk_gb": _COUNT},
        },
        "applied_generation": _COUNT,
        "uptime": {"type": ["string", "null"], "maxLength": 255},
        "vms": {"type": "array", "maxItems": 10000, "items": {
            "type": "object", "required": ["uuid", "state"], "additionalProperties": False,
            "properties": {
                "uuid": {"type": "string", "format": "uuid"},
                "state": {"type": "string", "enum": list(VM_STATES)},
                "seq": _COUNT,
                "error": {"type": ["string", "null"], "maxLength": 4096},
            },
        }},
    },
}

DESIRED_QUERY: Schema = {"type": "object", "properties": {
    "since": {"type": "integer", "minimum": 0, "default": 0,
              "description": "The generation the agent has; answer when the host's is above"},
    "wait": {"type": "number", "minimum": 0, "default": 0,
             "description": "Seconds to wait for a change (at most 30)"},
}}
