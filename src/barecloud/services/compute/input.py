"""Checks of Compute request bodies, worded as Nova's JSON-schema errors.

Nova validates every body against a schema and answers 400 with
``Invalid input for field/attribute <name>. Value: <value>. <reason>``;
clients show that text, so the helpers here produce the same form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from barecloud.errors import InvalidParameter, prefix, quote

MAX_INT = 2**31 - 1
_INT_RE = re.compile(r"^-?[0-9]+$")


def invalid(field: str, value: Any, reason: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid input for field/attribute {field}. "
                            f"Value: {prefix(value)}. {reason}")


def body_object(body: Any, key: str) -> dict[str, Any]:
    """``body[key]``, which must be an object (``{"server": {...}}``)."""
    if not isinstance(body, dict) or key not in body:
        raise InvalidParameter(f"Invalid input for field/attribute {key}. "
                               f"Value: {prefix(body)}. '{key}' is a required property")
    inner = body[key]
    if not isinstance(inner, dict):
        raise invalid(key, inner, f"{quote(inner)} is not of type 'object'")
    return inner


def only(data: dict[str, Any], allowed: Iterable[str], where: str) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        listed = ", ".join(repr(k) for k in extra)
        verb = "was" if len(extra) == 1 else "were"
        raise InvalidParameter(f"Invalid input for field/attribute {where}. "
                               f"Value: {prefix(data)}. Additional properties are not "
                               f"allowed ({listed} {verb} unexpected)")


def string(data: dict[str, Any], key: str, *, required: bool = False, min_len: int = 0,
           max_len: int = 255, pattern: re.Pattern[str] | None = None,
           nullable: bool = False) -> str | None:
    if key not in data:
        if required:
            raise InvalidParameter(f"Invalid input for field/attribute {key}. Value: None. "
                                   f"'{key}' is a required property")
        return None
    value = data[key]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise invalid(key, value, f"{quote(value)} is not of type 'string'")
    if len(value) < min_len:
        raise invalid(key, value, f"{quote(value)} is too short")
    if len(value) > max_len:
        raise invalid(key, value, f"{quote(value)} is too long")
    if pattern is not None and not pattern.match(value):
        raise invalid(key, value, f"{quote(value)} does not match '{pattern.pattern}'")
    return value


def integer(data: dict[str, Any], key: str, *, minimum: int = 0, maximum: int = MAX_INT,
            default: int | None = None) -> int | None:
    """An integer, also given as a string of digits (Nova's schemas allow both)."""
    if key not in data or data[key] is None:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (
        isinstance(value, str) and not _INT_RE.match(value)
    ):
        raise invalid(key, value, f"{quote(value)} is not of type 'integer', 'string'")
    number = int(value)
    if number < minimum:
        raise invalid(key, value, f"{quote(value)} is less than the minimum of {minimum}")
    if number > maximum:
        raise invalid(key, value, f"{quote(value)} is greater than the maximum of {maximum}")
    return number


_TRUE = {"true", "1", "t", "yes", "y", "on"}
_FALSE = {"false", "0", "f", "no", "n", "off"}


def boolean(data: dict[str, Any], key: str, default: bool | None = None) -> bool | None:
    """Nova's ``parameter_types.boolean``: JSON booleans and their string spellings."""
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise invalid(key, value, f"{quote(value)} is not one of [True, 'True', 'TRUE', 'true', '1', "
                  "'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', 'FALSE', 'false', "
                  "'0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']")


def query_bool(name: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidParameter(f"Invalid value '{raw}' for {name}: not a boolean")


# Names Nova allows for servers, flavors and the like: printable, no
# leading or trailing white space.
NAME_RE = re.compile(r"^(?!\s)[^\x00-\x1f\x7f]*(?<!\s)$", re.S)
