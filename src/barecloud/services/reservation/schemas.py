"""What each Reservation API operation accepts, declared once (docs/design/input.md).

Blazar itself checks its requests by hand in its managers; these declarations
say the same in JSON Schema, and errors.py words a refusal as Blazar does
(``Missing parameter min``, ``Malformed parameter min``, ...).  What JSON
Schema cannot say stays in leases.py and hosts.py: dates (``now`` or
``YYYY-MM-DD hh:mm``), filter syntax, min against max, host facts.
"""

from __future__ import annotations

from barecloud.services.validation import Schema

RESOURCE_TYPE = "physical:host"
MAX_NAME = 80
MAX_KEY = 64
BEFORE_END = ("", "default", "snapshot")

# python-blazarclient sends counts as text ("min=1,max=2" on its command line).
# At most what the database's integer columns hold.
_COUNT: Schema = {"title": "count", "type": ["number", "string"], "maximum": 2**31 - 1,
                  "pattern": r"^\s*[+-]?0*[0-9]{1,9}\s*$"}
# "now" or a date Blazar reads (dates.py); text that is not one is refused there.
_DATE: Schema = {"title": "date", "type": "string"}
_OPTIONAL_DATE: Schema = {"title": "date", "type": ["string", "null"]}
_REQUIRED_DATE: Schema = {"title": "required date", "type": "string", "minLength": 1}
# A host filter: Blazar's JSON text, or the list it encodes.
_FILTER: Schema = {"title": "filter", "type": ["string", "array", "null"]}
_NAME: Schema = {"title": "lease name", "type": "string", "pattern": r"\S",
                 "maxLength": MAX_NAME}

_RESERVATION_FIELDS: Schema = {
    "min": _COUNT, "max": _COUNT,
    "hypervisor_properties": _FILTER, "resource_properties": _FILTER,
    "before_end": {"title": "before_end", "enum": [*BEFORE_END, None]},
}

CREATE_LEASE: Schema = {
    "title": "lease", "type": "object",
    # Blazar takes a lease without reservations (its manager pops them with a
    # default of []): it only holds a window of time.
    "required": ["name", "start_date", "end_date"],
    "properties": {
        "name": _NAME, "start_date": _REQUIRED_DATE, "end_date": _REQUIRED_DATE,
        "before_end_date": _OPTIONAL_DATE,
        "reservations": {"title": "required", "type": "array", "items": {
            "title": "reservation", "type": "object",
            "required": ["resource_type", "min", "max"],
            "properties": {"resource_type": {"title": "resource type",
                                             "const": RESOURCE_TYPE},
                           **_RESERVATION_FIELDS}}},
    },
}

UPDATE_LEASE: Schema = {
    "title": "lease", "type": "object",
    "properties": {
        "name": _NAME, "start_date": _DATE, "end_date": _DATE,
        "before_end_date": _OPTIONAL_DATE,
        # A reservation's resource type cannot change (leases.py says so, 409).
        "reservations": {"title": "reservation changes", "type": ["array", "null"], "items": {
            "title": "reservation change", "type": "object", "required": ["id"],
            "properties": {"id": {"title": "reservation change", "type": "string",
                                  "minLength": 1},
                           **_RESERVATION_FIELDS}}},
    },
}

# A host's extra capabilities: any other key, a scalar kept as text (null removes it).
_CAPABILITY: Schema = {"title": "capability", "type": ["string", "number", "boolean", "null"]}
_CAPABILITY_KEY: Schema = {"title": "capability key", "maxLength": MAX_KEY}

CREATE_HOST: Schema = {
    "title": "host", "type": "object", "required": ["name"],
    "properties": {"name": {"title": "required", "type": "string", "minLength": 1}},
    "propertyNames": _CAPABILITY_KEY,
    "additionalProperties": _CAPABILITY,
}

UPDATE_HOST: Schema = {
    "title": "host", "type": "object",
    "properties": {"reservable": {}},
    "propertyNames": _CAPABILITY_KEY,
    "additionalProperties": _CAPABILITY,
}

UPDATE_PROPERTY: Schema = {
    "title": "property", "type": "object", "required": ["private"],
    "properties": {"private": {"title": "property", "type": "boolean"}},
}

_ID: Schema = {"type": "string"}
ALLOCATIONS_QUERY: Schema = {"type": "object",
                             "properties": {"lease_id": _ID, "reservation_id": _ID}}
# Flags as oslo reads them ("1", "true", "yes", ... is on; any other text is off).
PROPERTIES_QUERY: Schema = {"type": "object",
                            "properties": {"detail": {"type": "string"},
                                           "all": {"type": "string"}}}
CALENDAR_QUERY: Schema = {"type": "object",
                          "properties": {"start": _DATE, "end": _DATE}}
