"""Checks of Network request bodies, worded as Neutron's attribute validation.

Neutron validates each resource's attributes from a table (allow_post,
allow_put, validators, converters); a body with an attribute it does not
know is ``Unrecognized attribute(s) 'x'``, a value a validator refuses is
``Invalid input for <attr>. Reason: <why>.``, both 400 ``HTTPBadRequest``.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable
from typing import Any

from barecloud.errors import prefix
from barecloud.services import policy
from barecloud.services.context import RequestContext
from barecloud.services.network.errors import HTTPBadRequest, InvalidInput, invalid_attr
from barecloud.services.tenancy import project_of

MAC_RE = re.compile(r"^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$")
TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")


def resource_body(body: Any, resource: str) -> dict[str, Any]:
    """``body[resource]``: the one object a create or update is about."""
    if not isinstance(body, dict) or resource not in body:
        raise HTTPBadRequest(f"Unable to find '{resource}' in request body")
    data = body[resource]
    if not isinstance(data, dict):
        raise HTTPBadRequest(f"Invalid input for {resource}. Reason: the body is not an "
                             "object.")
    return data


def bulk_bodies(body: Any, resource: str, collection: str) -> list[dict[str, Any]] | None:
    """The items of a bulk create (``{"networks": [...]}``), or None for a single one."""
    if isinstance(body, dict) and collection in body and resource not in body:
        items = body[collection]
        if not isinstance(items, list) or not items:
            raise HTTPBadRequest("Resources required")
        for item in items:
            if not isinstance(item, dict):
                raise HTTPBadRequest(f"Invalid input for {collection}. Reason: '{prefix(item)}' is "
                                     "not an object.")
        return items
    return None


def only(data: dict[str, Any], allowed: Iterable[str]) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(extra)}'")


def read_only(data: dict[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        if key in data:
            raise HTTPBadRequest(f"Cannot update read-only attribute {key}")


def not_on_post(data: dict[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        if key in data:
            raise HTTPBadRequest(f"Attribute '{key}' not allowed in POST")


def required(data: dict[str, Any], key: str) -> Any:
    if key not in data:
        raise HTTPBadRequest(f"Failed to parse request. Required attribute '{key}' not "
                             "specified")
    return data[key]


def to_bool(value: Any, attr: str = "") -> bool:
    """Neutron's convert_to_boolean: booleans, 0/1 and their strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    raise InvalidInput(f"'{prefix(value)}' cannot be converted to boolean")


def boolean(data: dict[str, Any], key: str, default: bool) -> bool:
    return to_bool(data[key], key) if key in data else default


def string(data: dict[str, Any], key: str, default: str = "", max_len: int = 255,
           nullable: bool = False) -> str:
    if key not in data:
        return default
    value = data[key]
    if value is None and nullable:
        return default
    if not isinstance(value, str):
        raise invalid_attr(key, f"'{prefix(value)}' is not a valid string")
    if len(value) > max_len:
        raise invalid_attr(key, f"'{prefix(value)}' exceeds maximum length of {max_len}")
    return value


def integer(value: Any, attr: str, minimum: int | None = None,
            maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise invalid_attr(attr, f"'{prefix(value)}' is not an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid_attr(attr, f"'{prefix(value)}' is not an integer") from None
    if isinstance(value, float) and number != value:
        raise invalid_attr(attr, f"'{prefix(value)}' is not an integer")
    if minimum is not None and number < minimum:
        raise invalid_attr(attr, f"'{prefix(value)}' is too small - must be at least '{minimum}'")
    if maximum is not None and number > maximum:
        raise invalid_attr(attr, f"'{prefix(value)}' is too large - must be no larger than "
                                 f"'{maximum}'")
    return number


def uuid_str(value: Any, attr: str) -> str:
    if not isinstance(value, str):
        raise invalid_attr(attr, f"'{prefix(value)}' is not a valid UUID")
    try:
        uuid.UUID(value)
    except ValueError:
        raise invalid_attr(attr, f"'{prefix(value)}' is not a valid UUID") from None
    return value


def ip_address(value: Any, attr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if not isinstance(value, str):
        raise invalid_attr(attr, f"'{prefix(value)}' is not a valid IP address")
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise invalid_attr(attr, f"'{prefix(value)}' is not a valid IP address") from None


def mac_address(value: Any, attr: str = "mac_address") -> str:
    """A unicast MAC address, normalised as Neutron stores it (lower case, colons)."""
    if not isinstance(value, str) or not MAC_RE.match(value):
        raise invalid_attr(attr, f"'{prefix(value)}' is not a valid MAC address")
    mac = value.lower().replace("-", ":")
    if mac in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") or int(mac[:2], 16) & 1:
        raise invalid_attr(attr, f"'{prefix(value)}' is not a valid MAC address")
    return mac


def owner(ctx: RequestContext, data: dict[str, Any]) -> str:
    """The project a created resource belongs to: the caller's, or (admins) the one given."""
    project, tenant = data.get("project_id"), data.get("tenant_id")
    for key, value in (("project_id", project), ("tenant_id", tenant)):
        if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
            raise invalid_attr(key, f"'{prefix(value)}' is not a valid string")
    if project is not None and tenant is not None and project != tenant:
        raise HTTPBadRequest("'project_id' and 'tenant_id' do not match")
    given = project or tenant
    mine = project_of(ctx)
    if given and given != mine and not policy.can(ctx, "network:context_is_admin"):
        raise HTTPBadRequest("Specifying 'project_id' or 'tenant_id' other than the "
                             "authenticated project in request requires admin privileges")
    return str(given or mine)
