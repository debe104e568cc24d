"""Metadefs' JSON schemas: what the API accepts, and the documents
``/v2/schemas/metadefs/*`` serve (Glance's names and fields)."""

from __future__ import annotations

import copy
from typing import Any

_NAME = {"type": "string", "minLength": 1, "maxLength": 80}
_TIME = {"type": "string", "readOnly": True, "format": "date-time"}

PROPERTY: dict[str, Any] = {
    "type": "object", "title": "property", "required": ["name", "title", "type"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "title": {"type": "string"}, "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": ["array", "boolean", "integer", "number",
                                            "object", "string", None]},
        "required": {"type": "array", "items": {"type": "string"}},
        "minimum": {"type": "number"}, "maximum": {"type": "number"},
        "maxLength": {"type": "integer", "minimum": 0},
        "minLength": {"type": "integer", "minimum": 0},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"}, "readonly": {"type": "boolean"},
        "default": {}, "items": {"type": "object"},
        "maxItems": {"type": "integer", "minimum": 0},
        "minItems": {"type": "integer", "minimum": 0},
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    },
    "additionalProperties": False,
}
OBJECT: dict[str, Any] = {
    "type": "object", "title": "object", "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 255},
        "description": {"type": "string"},
        "required": {"type": "array", "items": {"type": "string"}},
        "properties": {"type": "object",
                       "additionalProperties": {**PROPERTY, "required": ["title", "type"],
                                                "properties": {
                                                    k: v for k, v in
                                                    PROPERTY["properties"].items()
                                                    if k != "name"}}},
    },
    "additionalProperties": False,
}
TAG: dict[str, Any] = {
    "type": "object", "title": "tag", "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 255}},
    "additionalProperties": False,
}
TAGS: dict[str, Any] = {
    "type": "object", "title": "tags", "required": ["tags"],
    "properties": {"tags": {"type": "array", "items": TAG}},
}
RESOURCE_TYPE: dict[str, Any] = {
    "type": "object", "title": "resource_type_association", "required": ["name"],
    "properties": {"name": _NAME, "prefix": {"type": "string", "maxLength": 80},
                   "properties_target": {"type": "string", "maxLength": 80}},
    "additionalProperties": False,
}
NAMESPACE: dict[str, Any] = {
    "type": "object", "title": "namespace", "required": ["namespace"],
    "properties": {
        "namespace": _NAME, "display_name": {"type": "string", "maxLength": 80},
        "description": {"type": "string", "maxLength": 500},
        "visibility": {"type": "string", "enum": ["public", "private"]},
        "protected": {"type": "boolean"},
        "owner": {"type": "string", "maxLength": 255},
        "resource_type_associations": {"type": "array", "items": RESOURCE_TYPE},
        "properties": {"type": "object",
                       "additionalProperties": OBJECT["properties"]["properties"][
                           "additionalProperties"]},
        "objects": {"type": "array", "items": OBJECT},
        "tags": {"type": "array", "items": TAG},
        # Shown in a namespace, so a client may send back what it read.
        "created_at": _TIME, "updated_at": _TIME, "schema": {"type": "string"},
        "self": {"type": "string"},
    },
    "additionalProperties": False,
}
SORT_KEYS = ("created_at", "updated_at", "namespace", "display_name")
LIST_NAMESPACES_QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {"visibility": {"type": "string", "enum": ["public", "private"]},
                   "resource_types": {"type": "string"},
                   "limit": {"type": "integer", "minimum": 0},
                   "marker": {"type": "string"},
                   "sort_key": {"type": "string", "enum": list(SORT_KEYS)},
                   "sort_dir": {"type": "string", "enum": ["asc", "desc"]}},
}

_SHOWN = {"created_at": _TIME, "updated_at": _TIME,
          "schema": {"type": "string", "readOnly": True},
          "self": {"type": "string", "readOnly": True}}


def _document(name: str, declared: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(declared)
    doc.pop("title", None)
    doc["name"] = name
    doc["properties"] = {**doc["properties"], **_SHOWN}
    return doc


def _collection(name: str, member: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {member: {"type": "array", "items": item},
                       "first": {"type": "string"}, "next": {"type": "string"},
                       "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}],
    }


def documents() -> dict[str, dict[str, Any]]:
    """Every metadefs schema by its path under /v2/schemas/metadefs/."""
    namespace = _document("namespace", NAMESPACE)
    obj = _document("object", OBJECT)
    prop = _document("property", PROPERTY)
    tag = _document("tag", TAG)
    association = _document("resource_type_association", RESOURCE_TYPE)
    properties = {"name": "properties",
                  "properties": {"properties": {"type": "object",
                                                "additionalProperties": prop}}}
    return {
        "namespace": namespace,
        "namespaces": _collection("namespaces", "namespaces", namespace),
        "object": obj, "objects": _collection("objects", "objects", obj),
        "property": prop, "properties": properties,
        "tag": tag, "tags": _collection("tags", "tags", tag),
        "resource_type": association,
        "resource_types": _collection("resource_type_associations",
                                      "resource_type_associations", association),
    }
