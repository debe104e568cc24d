"""Glance's image and member schemas: the documents clients fetch, and the
declarations of what each Image API operation accepts (docs/design/input.md).

The JSON schemas served at ``/image/v2/schemas/*`` are the same data that
validates input here (``CREATE_IMAGE`` is the image schema, with the bounds
Glance's database puts on ``min_disk`` and ``min_ram``), so what a client reads
is what the service enforces.  Glance reads its JSON-patch and its list filters
by hand; their declarations say what JSON Schema can, the rest is checked in
patch.py and queries.py.  The words of a refusal are Glance's (errors.py).
``disk_formats`` are ``raw`` and ``qcow2`` only (a Glance operator's
``[image_format] disk_formats`` setting): those are what a bare-metal deploy
can write; ``container_formats`` is ``bare``.
"""

from __future__ import annotations

from typing import Any

from barecloud.errors import ClientError, Forbidden, InvalidParameter, quote
from barecloud.services.image.errors import wording
from barecloud.services.validation import Checker, Schema

DISK_FORMATS = ("raw", "qcow2")
CONTAINER_FORMATS = ("bare",)
VISIBILITIES = ("public", "private", "shared", "community")
MEMBER_STATUSES = ("pending", "accepted", "rejected")
UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){12}$")
MAX_INT = 2**31 - 1  # Glance keeps min_disk and min_ram in 32-bit columns.

# As Glance: what a client may never write, what it may not name, and the
# attributes every image has (the rest are string-valued "extra properties").
READONLY = frozenset({"created_at", "updated_at", "status", "checksum", "size",
                      "virtual_size", "direct_url", "self", "file", "schema", "id",
                      "os_hash_algo", "os_hash_value", "stores"})
RESERVED = frozenset({"location", "deleted", "deleted_at"})
RESERVED_PREFIX = "os_glance"
WRITABLE = ("name", "visibility", "protected", "os_hidden", "owner", "min_disk", "min_ram",
            "disk_format", "container_format", "tags")


class OverLimit(ClientError):
    """A per-image quota (tags, properties, members) would be exceeded."""

    code = 413


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _nullable(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": ["null", "string"], "description": description, **extra}


IMAGE_PROPERTIES: dict[str, dict[str, Any]] = {
    "id": _string("An identifier for the image", pattern=UUID_PATTERN),
    "name": _nullable("Descriptive name for the image", maxLength=255),
    "status": _string("Status of the image", readOnly=True, enum=[
        "queued", "saving", "active", "killed", "deleted", "uploading", "importing",
        "pending_delete", "deactivated"]),
    "visibility": _string("Scope of image accessibility", enum=list(VISIBILITIES)),
    "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
    "os_hidden": {"type": "boolean",
                  "description": "If true, image will not appear in default image list response."},
    "checksum": _nullable("md5 hash of image contents.", readOnly=True, maxLength=32),
    "os_hash_algo": _nullable("Algorithm to calculate the os_hash_value", readOnly=True,
                              maxLength=64),
    "os_hash_value": _nullable("Hexdigest of the image contents using the algorithm "
                               "specified by the os_hash_algo", readOnly=True, maxLength=128),
    "owner": _nullable("Owner of the image", maxLength=255),
    "size": {"type": ["null", "integer"], "readOnly": True,
             "description": "Size of image file in bytes"},
    "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                     "description": "Virtual size of image in bytes"},
    "container_format": _nullable("Format of the container",
                                  enum=[None, *CONTAINER_FORMATS]),
    "disk_format": _nullable("Format of the disk", enum=[None, *DISK_FORMATS]),
    "created_at": _string("Date and time of image registration", readOnly=True),
    "updated_at": _string("Date and time of the last image modification", readOnly=True),
    "tags": {"type": "array", "description": "List of strings related to the image",
             "items": {"type": "string", "maxLength": 255}},
    "direct_url": _string("URL to access the image file kept in external store",
                          readOnly=True),
    "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
    "min_disk": {"type": "integer",
                 "description": "Amount of disk space (in GB) required to boot image."},
    "self": _string("An image self url", readOnly=True),
    "file": _string("An image file url", readOnly=True),
    "stores": _string("Store in which image data resides.", readOnly=True),
    "schema": _string("An image schema url", readOnly=True),
    "locations": {"type": "array", "description": "A set of URLs to access the image file "
                  "kept in external store", "items": {"type": "object"}},
}

MEMBER_PROPERTIES: dict[str, dict[str, Any]] = {
    "member_id": _string("An identifier for the image member (tenantId)"),
    "image_id": _string("An identifier for the image", pattern=UUID_PATTERN),
    "created_at": _string("Date and time of image member creation"),
    "updated_at": _string("Date and time of last modification of image member"),
    "status": _string("The status of this image member", enum=list(MEMBER_STATUSES)),
    "schema": {"readOnly": True, "type": "string"},
}


def image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "properties": IMAGE_PROPERTIES,
        "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def _collection(name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {name: {"type": "array", "items": item}, "first": {"type": "string"},
                       "next": {"type": "string"}, "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def images_schema() -> dict[str, Any]:
    return _collection("images", image_schema())


def member_schema() -> dict[str, Any]:
    return {"name": "member", "properties": MEMBER_PROPERTIES}


def members_schema() -> dict[str, Any]:
    return {
        "name": "members",
        "properties": {"members": {"type": "array", "items": member_schema()},
                       "schema": {"type": "string"}},
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }


# --- declarations ----------------------------------------------------------------------
# Read-only attributes that are links or locations: refused by name (403, "is
# read-only") whatever their value, so their declarations say nothing of the value.
LINKS = ("direct_url", "self", "file", "schema", "stores", "locations")


def _writable(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    if key in LINKS:
        return {"readOnly": True, "description": spec["description"]}
    if key in ("min_disk", "min_ram"):
        return {**spec, "minimum": 0, "maximum": MAX_INT}
    return spec


CREATE_IMAGE: Schema = {
    "title": "image", "type": "object",
    "properties": {k: _writable(k, v) for k, v in IMAGE_PROPERTIES.items()},
    "additionalProperties": {"type": "string"},
}

# A JSON pointer naming one attribute; v2.0 patches (draft 4) spell the operation
# as the member holding it.
_POINTER: Schema = {"title": "pointer", "type": "string"}
PATCH_OPERATION: Schema = {
    "title": "operation", "type": "object",
    "properties": {"op": {"title": "op", "enum": ["add", "remove", "replace"]},
                   "path": _POINTER, "value": {},
                   "add": _POINTER, "replace": _POINTER, "remove": _POINTER},
}
UPDATE_IMAGE: Schema = {"title": "patch", "type": "array", "items": PATCH_OPERATION}
PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"

ADD_MEMBER: Schema = {
    "title": "member", "type": "object", "required": ["member"],
    "properties": {"member": {"title": "member id", "type": "string", "minLength": 1,
                              "maxLength": 255}},
}
UPDATE_MEMBER: Schema = {
    "title": "member status", "type": "object", "required": ["status"],
    "properties": {"status": {"title": "member status", "enum": list(MEMBER_STATUSES)}},
}

_TEXT: Schema = {"type": "string"}
_TEXTS: Schema = {"type": "array", "items": {"type": "string"}}
_BOOLEAN_TEXT = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|)$"  # "": the default, false
# Glance's list parameters; any other name filters on that extra property.
# Filters with operators (``name=in:a,b``, ``created_at=gt:...``) are text here.
LIST_IMAGES_QUERY: Schema = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer", "minimum": 0},
        "marker": _TEXT,
        "sort": _TEXT, "sort_key": _TEXTS, "sort_dir": _TEXTS,
        "member_status": {"enum": ["", "pending", "accepted", "rejected", "all"]},
        "visibility": {"enum": ["community", "public", "private", "shared", "all"]},
        "protected": {"type": "string", "enum": ["true", "false"]},
        "os_hidden": {"type": "string", "pattern": _BOOLEAN_TEXT},
        "size_min": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        "size_max": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        "tag": _TEXTS,
        **{name: _TEXT for name in ("name", "id", "status", "container_format",
                                    "disk_format", "owner", "checksum", "os_hash_value",
                                    "created_at", "updated_at", "size", "virtual_size",
                                    "min_ram", "min_disk")},
    },
    "additionalProperties": _TEXT,
}

# The image's data: octets, streamed to the store, never read as JSON.
IMAGE_DATA: Schema = {"type": "string", "format": "binary"}
DATA_MEDIA_TYPE = "application/octet-stream"

_VALUES = Checker(CREATE_IMAGE, wording)


def check_value(key: str, value: Any) -> None:
    """Refuse (400) a value the image schema does not allow for ``key`` (a patched
    attribute, a tag), as a created image's would be."""
    _VALUES.check({key: value})
    refuse_nul(value)


def refuse_nul(value: Any) -> None:
    """What the declarations do not say: PostgreSQL text cannot hold a NUL."""
    if _has_nul(value):
        raise InvalidParameter(f"Provided object does not match schema 'image': "
                               f"{quote(value)} contains a NUL character")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    return isinstance(value, list) and any(_has_nul(v) for v in value)


def check_name(key: str) -> None:
    """Refuse (403) a property a client may not set, as Glance words it."""
    if key in READONLY:
        raise Forbidden(f"Attribute '{key}' is read-only.")
    if key in RESERVED or key.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{key}' is reserved.")
    if len(key) > 255:
        raise InvalidParameter("Custom property should not be greater than 255 characters.")
    if "\x00" in key:
        raise InvalidParameter(f"Property name {quote(key)} contains a NUL character.")


# POST /images/{id}/import: {"method": {"name": ...}} (Glance's import body).
IMPORT_IMAGE: dict[str, Any] = {
    "type": "object", "title": "import", "required": ["method"],
    "properties": {"method": {"type": "object", "required": ["name"],
                              "properties": {"name": {"type": "string"}}}},
}

# POST /v2/images/{id}/locations (2.17): Glance's add_location body.
ADD_LOCATION: dict[str, Any] = {
    "type": "object", "title": "location", "required": ["url"],
    "properties": {
        "url": {"type": "string", "maxLength": 255},
        "validation_data": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "os_hash_algo": {"type": "string", "maxLength": 64,
                                 "enum": ["sha1", "sha256", "sha512", "md5"]},
                "os_hash_value": {"type": "string", "maxLength": 128},
            },
            "dependentRequired": {"os_hash_value": ["os_hash_algo"],
                             "os_hash_algo": ["os_hash_value"]},
        },
    },
}

# POST /v2/tasks: {"type", "input"} (Glance's task body).
CREATE_TASK: dict[str, Any] = {
    "type": "object", "title": "task", "required": ["type", "input"],
    "properties": {"type": {"type": "string"}, "input": {"type": "object"}},
}
LIST_TASKS_QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["pending", "processing", "success",
                                                         "failure"]},
                   "type": {"type": "string"},
                   "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
                   "sort_key": {"type": "string"}, "limit": {"type": "string"},
                   "marker": {"type": "string"}},
}
