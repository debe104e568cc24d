"""Glance's words for input its declarations (schemas.py) refuse.

Glance validates a created image against its image schema and says
``Provided object does not match schema 'image': <jsonschema's message>``;
its JSON-patch, member and list-filter checks are code with their own texts,
which are kept here, picked by the ``title`` of the declaration (or part of it)
that refused the input, or by the query parameter.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from barecloud.errors import BarecloudError, InvalidParameter, quote

OPS = "add, remove, replace"
# A list filter's refusal, by parameter and failed keyword ("" for any keyword).
QUERY_WORDS = {
    ("limit", "type"): "limit param must be an integer",
    ("limit", "minimum"): "limit param must be positive",
    ("member_status", ""): "Invalid status: {value}",
    ("visibility", ""): "Invalid visibility value: {value}",
    ("protected", ""): "Invalid value '{value}' for 'protected' filter. "
                       "Valid values are 'true' or 'false'.",
    ("os_hidden", ""): "Invalid value '{lower}' for 'os_hidden' filter. "
                       "Valid values are 'true' or 'false'.",
    ("size_min", ""): "Unable to filter using the specified range.",
    ("size_max", ""): "Unable to filter using the specified range.",
}


def _query(error: jsonschema.ValidationError) -> str:
    name = str(error.absolute_path[0]) if error.absolute_path else ""
    words = QUERY_WORDS.get((name, str(error.validator))) or QUERY_WORDS.get((name, ""))
    if words is None:
        return f"Invalid value for {name or 'the query'}: {error.message}"
    value = error.instance
    return words.format(value=value, lower=str(value).lower())


def _body(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    title = schema.get("title")
    value: Any = error.instance
    if title == "patch":
        return "Request body must be a JSON array of operation objects."
    if title == "operation":
        return "Operations must be JSON objects."
    if title == "op":
        if value is None:
            return (f"Unable to find `op` in JSON Schema change. It must be one of the "
                    f"following: {OPS}.")
        return f"Invalid operation: `{value}`. It must be one of the following: {OPS}."
    if title == "pointer":
        return f"Pointer `{value}` is not a string."
    if title == "member" or (title == "member id" and value is None):
        return "Member to be added not specified"
    if title == "member id":
        return (f"Invalid member: {quote(value)} (a project id of up to 255 characters is "
                "expected)")
    if title == "member status":
        if error.validator in ("type", "required") or value is None:
            return "Status not specified"
        return f"Invalid status: {value}"
    if title == "image" and error.validator == "type":
        return "Provided object does not match schema 'image': the body is not a JSON object"
    if error.validator in ("minimum", "maximum"):
        key = error.absolute_path[-1] if error.absolute_path else "value"
        return (f"Provided object does not match schema 'image': {quote(value)} is out of "
                f"range: {key} must be between 0 and {schema.get('maximum')}")
    return f"Provided object does not match schema 'image': {error.message}"


def wording(error: jsonschema.ValidationError, where: str) -> BarecloudError:
    return InvalidParameter(_query(error) if where == "query" else _body(error))
