"""Glance's JSON-patch dialect for images: one level deep, add/replace/remove.

Glance does not apply RFC 6902 literally: a path names one attribute, ``add``
of an existing one replaces it (draft 10, the ``v2.1`` media type), and a
change to a read-only or reserved attribute is refused with 403.  The whole
document is checked before anything is applied, so a bad patch changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from barecloud.errors import Conflict, Forbidden, InvalidParameter
from barecloud.services.image import schemas

MEDIA_TYPES = {
    "application/openstack-images-v2.0-json-patch": 4,
    "application/openstack-images-v2.1-json-patch": 10,
}
OPS = ("add", "remove", "replace")


@dataclass(frozen=True)
class Change:
    op: str
    name: str
    value: Any = None
    index: str | None = None  # /locations/<index>: a position or "-" (locations.py)


def parse(body: list[dict[str, Any]], draft: int) -> list[Change]:
    """The changes of a patch document (what ``schemas.UPDATE_IMAGE`` accepted: a list
    of objects, a known ``op``, string pointers), or a 400/403 naming the first bad one."""
    changes = []
    for raw in body:
        op, pointer = _op_d10(raw) if draft == 10 else _op_d4(raw)
        path = _decode(pointer)
        name = path[0]
        if name == "locations" and len(path) <= 2:
            if op != "remove" and "value" not in raw:
                raise InvalidParameter(f'Operation "{op}" requires a member named "value".')
            changes.append(Change(op, name, raw.get("value"), path[1] if len(path) == 2
                                  else None))
            continue
        if len(path) != 1:
            raise InvalidParameter(
                f"Invalid JSON pointer for this resource: '/{'/'.join(path)}'"
            )
        schemas.check_name(name)
        if op == "remove":
            changes.append(Change(op, name))
            continue
        if "value" not in raw:
            raise InvalidParameter(f'Operation "{op}" requires a member named "value".')
        schemas.check_value(name, raw["value"])
        changes.append(Change(op, name, raw["value"]))
    return changes


def _op_d10(raw: dict[str, Any]) -> tuple[str, Any]:
    op = raw.get("op")
    if op is None:
        raise InvalidParameter("Unable to find `op` in JSON Schema change. It must be one of "
                               f"the following: {', '.join(OPS)}.")
    if "path" not in raw:
        raise InvalidParameter("Unable to find 'path' in JSON Schema change")
    return op, raw["path"]


def _op_d4(raw: dict[str, Any]) -> tuple[str, Any]:
    found = [key for key in OPS if key in raw]
    if len(found) != 1:
        raise InvalidParameter('Operation objects must contain exactly one member named '
                               '"add", "remove", or "replace".')
    return found[0], raw[found[0]]


def _decode(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise InvalidParameter(f'Pointer `{pointer}` does not start with "/".')
    if re.search(r"/\s*?/", pointer[1:]):
        raise InvalidParameter(f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise InvalidParameter(f'Pointer `{pointer}` end with "/".')
    if pointer == "/" or pointer[1:].strip() == "":
        raise InvalidParameter(f"Pointer `{pointer}` does not contains valid token.")
    if re.search("~[^01]", pointer) or pointer.endswith("~"):
        raise InvalidParameter(
            f'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.'
        )
    return [part.replace("~1", "/").replace("~0", "~").strip()
            for part in pointer.lstrip("/").split("/")]


def apply(base: dict[str, Any], extra: dict[str, Any], changes: list[Change],
          draft: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes and extra properties after ``changes`` (copies; inputs untouched)."""
    base, extra = dict(base), dict(extra)
    for change in changes:
        name, known = change.name, change.name in schemas.WRITABLE
        if change.op == "remove":
            if known:
                raise Forbidden(f"Property {name} may not be removed.")
            if name not in extra:
                raise Conflict(f"Property {name} does not exist.")
            del extra[name]
        elif change.op == "replace" and not known and name not in extra:
            raise Conflict(f"Property {name} does not exist.")
        elif change.op == "add" and draft == 4 and (known or name in extra):
            raise Conflict(f"Property {name} already present.")
        elif known:
            base[name] = change.value
        else:
            extra[name] = change.value
    return base, extra
