"""Request bodies of the Identity API, checked as Keystone's schemas do.

Messages follow Keystone's "Invalid input for field/attribute NAME. Value:
VALUE. PROBLEM"; secrets are never repeated back.
"""

from __future__ import annotations

from typing import Any

from barecloud.errors import InvalidParameter, quote

SECRET_FIELDS = frozenset({"password", "original_password", "secret"})


def invalid(field: str, value: Any, problem: str) -> InvalidParameter:
    shown = "******" if field in SECRET_FIELDS else quote(value)
    return InvalidParameter(f"Invalid input for field/attribute {field}. Value: {shown}. "
                            f"{problem}")


def entity(body: Any, key: str) -> dict[str, Any]:
    """``body[key]``, which must be an object (``{"project": {...}}``)."""
    if not isinstance(body, dict) or key not in body:
        raise InvalidParameter(f"'{key}' is a required property")
    value = body[key]
    if not isinstance(value, dict):
        raise invalid(key, value, f"{quote(value)} is not of type 'object'")
    return value


def string(data: dict[str, Any], field: str, *, required: bool = False, max_length: int = 255,
           min_length: int = 1, nullable: bool = False) -> str | None:
    if field not in data:
        if required:
            raise InvalidParameter(f"'{field}' is a required property")
        return None
    value = data[field]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise invalid(field, value, f"{'******' if field in SECRET_FIELDS else quote(value)} "
                      "is not of type 'string'")
    if len(value) < min_length:
        raise invalid(field, value, f"{quote(value)} is too short")
    if len(value) > max_length:
        raise invalid(field, value, "The value is too long")
    if "\x00" in value:
        raise invalid(field, value, "The value contains a NUL character")
    return value


def name(data: dict[str, Any], *, required: bool, max_length: int) -> str | None:
    value = string(data, "name", required=required, max_length=max_length)
    if value is not None and not value.strip():
        raise invalid("name", value, "The name can not be blank")
    return value


def boolean(data: dict[str, Any], field: str) -> bool | None:
    if field not in data:
        return None
    value = data[field]
    if not isinstance(value, bool):
        raise invalid(field, value, f"{quote(value)} is not of type 'boolean'")
    return value


def tags(data: dict[str, Any]) -> list[str] | None:
    if "tags" not in data:
        return None
    value = data["tags"]
    if not isinstance(value, list) or len(value) > 80 or not all(
        isinstance(t, str) and 0 < len(t) <= 255 and "/" not in t and "," not in t
        and "\x00" not in t for t in value
    ):
        raise invalid("tags", value, "Tags are a list of at most 80 strings of 1 to 255 "
                      "characters without '/' or ','")
    return list(dict.fromkeys(value))


def extra(data: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """The attributes Keystone keeps as they were sent (``email`` of a user, ...);
    never a secret, which would be shown back."""
    out = {k: v for k, v in data.items() if k not in known and k not in SECRET_FIELDS}
    for key in out:
        if not isinstance(key, str) or len(key) > 255 or "\x00" in key:
            raise invalid(str(key), None, "Invalid attribute name")
    return out


def query_bool(raw: str | None, field: str) -> bool | None:
    """Keystone's query booleans: 0/false/no/off are False, anything else (a bare
    ``?effective`` too) True."""
    if raw is None:
        return None
    return raw.strip().lower() not in ("0", "false", "f", "no", "n", "off")


def query_string(raw: str | None, field: str) -> str | None:
    if raw is not None and "\x00" in raw:
        raise InvalidParameter(f"Invalid input for query parameters {field}. Value: {quote(raw)}. "
                               "NUL character")
    return raw
