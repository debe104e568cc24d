"""Glance's image and member schemas: the documents clients fetch, and the checks
that follow them.

The JSON schemas served at ``/image/v2/schemas/*`` are the same data that
validates input here, so what a client reads is what the service enforces.
``disk_formats`` are ``raw`` and ``qcow2`` only (a Glance operator's
``[image_format] disk_formats`` setting): those are what a bare-metal deploy
can write; ``container_formats`` is ``bare``.
"""

from __future__ import annotations

import re
from typing import Any

from barecloud.errors import ClientError, Forbidden, InvalidParameter, quote

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


_TYPES: dict[str, Any] = {"string": str, "integer": int, "boolean": bool, "array": list,
                          "object": dict, "null": type(None)}


def _type_ok(value: Any, name: str) -> bool:
    if name == "integer" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def _violation(spec: dict[str, Any], value: Any) -> str | None:
    """Why ``value`` breaks ``spec`` (the subset of JSON schema used above), or None."""
    types = spec.get("type", [])
    types = [types] if isinstance(types, str) else types
    if types and not any(_type_ok(value, t) for t in types):
        return f"{quote(value)} is not of type {', '.join(repr(t) for t in types)}"
    if "enum" in spec and value not in spec["enum"]:
        return f"{quote(value)} is not one of {spec['enum']!r}"
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL text cannot hold it
            return f"{quote(value)} contains a NUL character"
        if len(value) > spec.get("maxLength", len(value)):
            return f"{quote(value)} is too long"
        if "pattern" in spec and not re.match(spec["pattern"], value):
            return f"{quote(value)} does not match {spec['pattern']!r}"
    if isinstance(value, list) and "items" in spec:
        for item in value:
            if why := _violation(spec["items"], item):
                return why
    return None


def check_value(key: str, value: Any) -> None:
    """Refuse (400) a value the image schema does not allow for ``key``."""
    spec = IMAGE_PROPERTIES.get(key, {"type": "string"})
    why = _violation(spec, value)
    if why is None and key in ("min_disk", "min_ram") and not 0 <= value <= MAX_INT:
        why = f"{quote(value)} is out of range: {key} must be between 0 and {MAX_INT}"
    if why is not None:
        raise InvalidParameter(f"Provided object does not match schema 'image': {why}")


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
