"""RFC 6902 JSON-patch on a resource's writable fields, with Ironic's rules.

The patch is applied to a plain dict of the fields; paths outside
``writable`` are refused before anything changes, so a bad patch leaves the
resource as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Set
from typing import Any

import jsonpatch
import jsonpointer

from barecloud.errors import InvalidParameter
from barecloud.services.baremetal import checks


def _root(path: str) -> str:
    return path.split("/")[1]


def apply(
    doc: dict[str, Any], ops: Any, *, writable: Set[str], internal: Set[str],
    sealed: frozenset[str] = frozenset(), secrets: Iterable[Any] = (),
) -> dict[str, Any]:
    """Return the patched copy of ``doc``, or raise InvalidParameter.

    Fields in ``sealed`` hold secrets: a patch may write or remove them but
    not read them (``test``, or ``copy``/``move`` out of them), so neither a
    copy into a plain field nor an error message can reveal their values;
    ``secrets`` are values masked in any error message.
    """
    ops = checks.patch(ops)  # its shape: the declaration (schemas.PATCH)
    for op in ops:
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
        reads = [op["path"]] if op["op"] == "test" else []
        reads += [op["from"]] if "from" in op else []
        for path in reads:
            if _root(path) in sealed:
                raise InvalidParameter(
                    f"'/{_root(path)}' may hold secrets: a patch may set or remove its "
                    f"keys but not {op['op']} from them."
                )
        if op["op"] == "remove" and op["path"].count("/") == 1 and op["path"][1:] in (
            "driver", "uuid"
        ):
            raise InvalidParameter(
                f"'{op['path']}' is a mandatory attribute and can not be removed"
            )
    try:
        patched: dict[str, Any] = jsonpatch.apply_patch(copy.deepcopy(doc), ops)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError,
            ValueError, KeyError, IndexError) as exc:
        raise InvalidParameter(
            f"Invalid JSON patch: {_redact(str(exc), secrets)}"
        ) from None
    return patched


def _redact(message: str, secrets: Iterable[Any]) -> str:
    """``message`` with every one of ``secrets`` masked, longest first."""
    for value in sorted({str(s) for s in secrets if s not in (None, "")}, key=len,
                        reverse=True):
        message = message.replace(value, "******")
    return message
