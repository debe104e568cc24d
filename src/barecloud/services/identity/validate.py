"""What the Identity services keep of a declared body, and refusals of their own.

The shape of a body is declared in schemas.py and checked before a service
runs; what is left here is what no declaration says: tags kept once each, the
attributes Keystone keeps as sent, and Keystone's query flags.  Messages of
the services' own refusals follow Keystone's "Invalid input for
field/attribute NAME. Value: VALUE. PROBLEM"; secrets are never repeated back.
"""

from __future__ import annotations

from typing import Any

from barecloud.errors import InvalidParameter, quote

SECRET_FIELDS = frozenset({"password", "original_password", "secret"})


def invalid(field: str, value: Any, problem: str) -> InvalidParameter:
    shown = "******" if field in SECRET_FIELDS else quote(value)
    return InvalidParameter(f"Invalid input for field/attribute {field}. Value: {shown}. "
                            f"{problem}")


def tags(data: dict[str, Any]) -> list[str] | None:
    """The declared tags, each once, in the order given."""
    value = data.get("tags")
    return None if value is None else list(dict.fromkeys(value))


def extra(data: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """The attributes Keystone keeps as they were sent (``email`` of a user, ...);
    never a secret, which would be shown back."""
    return {k: v for k, v in data.items() if k not in known and k not in SECRET_FIELDS}


def query_bool(raw: str | None) -> bool | None:
    """Keystone's query booleans: 0/false/no/off are False, anything else (a bare
    ``?effective`` too) True."""
    if raw is None:
        return None
    return raw.strip().lower() not in ("0", "false", "f", "no", "n", "off")
