"""RFC 6902 JSON-patch on a resource's writable fields, with Ironic's rules.

The patch is applied to a plain dict of the fields; paths outside
``writable`` are refused before anything changes, so a bad patch leaves the
resource as it was.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from barecloud.errors import InvalidParameter

OPS = ("add", "replace", "remove", "test", "move", "copy")


def _root(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidParameter(f"Invalid patch path {path!r}: it must start with '/'.")
    return path.split("/")[1]


def apply(
    doc: dict[str, Any], ops: Any, *, writable: set[str], internal: set[str]
) -> dict[str, Any]:
    """Return the patched copy of ``doc``, or raise InvalidParameter."""
    if not isinstance(ops, list) or not ops:
        raise InvalidParameter("A JSON patch must be a non-empty list of operations.")
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in OPS or "path" not in op:
            raise InvalidParameter(
                f"Invalid patch operation {op!r}: it needs 'op' (one of {', '.join(OPS)}) "
                "and 'path'."
            )
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise InvalidParameter(f"Patch operation {op['op']} on {op['path']} needs a 'value'.")
        for key in ("path", "from"):
            if key not in op:
                continue
            root = _root(op[key])
            if root in internal:
                raise InvalidParameter(
                    f"'/{root}' is an internal attribute and can not be updated"
                )
            if root not in writable:
                raise InvalidParameter(f"Unknown attribute '/{root}' can not be updated")
        if op["op"] == "remove" and op["path"].count("/") == 1 and op["path"][1:] in (
            "driver", "uuid"
        ):
            raise InvalidParameter(
                f"'{op['path']}' is a mandatory attribute and can not be removed"
            )
    try:
        patched: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(doc), ops)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise InvalidParameter(f"Invalid JSON patch: {exc}") from None
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise InvalidParameter(f"Invalid JSON patch: {exc}") from None
    return patched
