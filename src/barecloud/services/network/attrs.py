"""Neutron's converters and the checks its declarations cannot say.

What a body may hold is declared in schemas.py and checked before the service
runs; here are the converters Neutron applies after (``"yes"`` to True,
``"1500"`` to 1500, a MAC to lower case), which Compute and the conductor
also use for what they pass in, and who owns a created resource.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any

from barecloud.errors import prefix
from barecloud.services import policy
from barecloud.services.context import RequestContext
from barecloud.services.network.errors import HTTPBadRequest, InvalidInput, invalid_attr
from barecloud.services.tenancy import project_of
from barecloud.services.validation import spelled_bool

MAC_RE = re.compile(r"^([0-9a-fA-F]{2})([:-][0-9a-fA-F]{2}){5}$")


def to_bool(value: Any, attr: str = "") -> bool:
    """Neutron's convert_to_boolean: booleans, 0/1 and oslo's strict spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and (read := spelled_bool(value)) is not None:
        return read
    raise InvalidInput(f"'{prefix(value)}' cannot be converted to boolean")


def boolean(data: dict[str, Any], key: str, default: bool) -> bool:
    return to_bool(data[key], key) if key in data else default


def string(data: dict[str, Any], key: str, default: str = "") -> str:
    """A declared string attribute (schemas.py checked it), or ``default`` if absent or
    null."""
    value = data.get(key)
    return default if value is None else str(value)


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
    if project is not None and tenant is not None and project != tenant:
        raise HTTPBadRequest("'project_id' and 'tenant_id' do not match")
    given = project or tenant
    mine = project_of(ctx)
    if given and given != mine and not policy.can(ctx, "network:context_is_admin"):
        raise HTTPBadRequest("Specifying 'project_id' or 'tenant_id' other than the "
                             "authenticated project in request requires admin privileges")
    return str(given or mine)
