"""Driver settings: the keys each driver declares, typed from what the operator gave.

Node drivers declare the ``driver_info`` keys they read, switch drivers their
options (drivers/switches/registry.py); both are typed the same way here, and
a secret's value is never echoed in an error.  Nothing here knows a node,
so the switch drivers, which the node drivers build on, can use it too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from barecloud.errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``driver_info`` key a driver reads; ``secret`` ones are masked."""

    name: str
    description: str
    required: bool = False
    secret: bool = False
    type: Literal["string", "integer", "number", "boolean", "list"] = "string"
    default: Any = None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_bool(value: Any) -> bool | None:
    """``value`` as a boolean, or None if it is not one."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def coerce(s: Setting, value: Any) -> Any:
    """``value`` as ``s.type``; ValueError or TypeError if it is not one.

    Lists also come as "a,b,c" (from an environment variable).
    """
    if s.type == "integer":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    if s.type == "number":
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not math.isfinite(number):
            raise ValueError
        return number
    if s.type == "boolean":
        flag = parse_bool(value)
        if flag is None:
            raise ValueError
        return flag
    if s.type == "list":
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        raise ValueError
    return value if isinstance(value, str) else str(value)


def typed(settings: Iterable[Setting], values: Mapping[str, Any],
          where: Callable[[Setting], str]) -> dict[str, Any]:
    """Each setting's value in ``values``, typed, its default where missing.

    A value of the wrong type is an InvalidParameter "<where> must be a <type>"
    that shows the value, unless the setting is a secret.
    """
    out: dict[str, Any] = {}
    for s in settings:
        value = values.get(s.name)
        if value is None or value == "":
            out[s.name] = s.default
            continue
        try:
            out[s.name] = coerce(s, value)
        except (TypeError, ValueError):
            shown = "******" if s.secret else repr(value)
            raise InvalidParameter(
                f"{where(s)} must be {'an' if s.type == 'integer' else 'a'} {s.type}, "
                f"not {shown}."
            ) from None
    return out


def scrub(message: str, *secrets: str) -> str:
    """``message`` with every non-empty secret masked: belt and braces for error text."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        message = message.replace(secret, "******")
    return message
