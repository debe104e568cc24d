"""Bare Metal input: checked against its declaration (schemas.py), worded as Ironic
words refusals, and normalised the way Ironic stores it.

The API checks each request before its handler runs (api/baremetal/inputs.py);
the services check again what they are handed, so a direct caller (a test, the
demo content, a benchmark) gets the same rules, and a node or port is checked
whole after a JSON patch.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema

from barecloud.errors import BarecloudError, InvalidParameter
from barecloud.services.baremetal import schemas
from barecloud.services.validation import Checker, spelled_bool

MAC_RE = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
_KINDS = {"object": "a JSON object", "array": "a list", "string": "a string",
          "integer": "an integer", "number": "a number", "boolean": "a boolean",
          "null": "null"}
_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "list"), (dict, "JSON object"), (type(None), "null"))


def _field(path: Iterable[Any]) -> str:
    """``traits[1]``, ``local_link_connection.port_id``: where in the document."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _kinds(names: Any) -> str:
    kinds = [_KINDS.get(n, n) for n in ([names] if isinstance(names, str) else names)]
    return kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} or {kinds[-1]}"


def _json_type(value: Any) -> str:
    return next(name for kind, name in _JSON_TYPES if isinstance(value, kind))


def wording(error: jsonschema.ValidationError, where: str) -> BarecloudError:
    """Ironic's words for a refused document: its own texts for names, UUIDs, MACs
    and traits, WSME's ``Unknown attribute for argument``, and jsonschema's
    message otherwise.  A body's values are not echoed in type errors (a patch
    may carry a secret); a query string's are."""
    field, kind = _field(error.absolute_path), error.validator
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    title = schema.get("title") or where
    name = field or title
    value: Any = error.instance
    expected: Any = error.validator_value
    pattern = schema.get("pattern")
    if kind == "additionalProperties":
        extra = sorted(set(value) - set(schema.get("properties", {})))
        return InvalidParameter(f"Unknown attribute for argument {title}: {', '.join(extra)}")
    if kind == "type" and not field:
        if schema.get("examples"):
            return InvalidParameter(
                f"Expected a body of the form {json.dumps(schema['examples'][0])}.")
        return InvalidParameter(f"Invalid {title}: expected {_kinds(expected)}.")
    if pattern == schemas.BOOL_PATTERN and kind in ("type", "pattern"):
        return InvalidParameter(f"Invalid value for {name}: {value!r} is not a boolean")
    if kind == "type":
        seen = repr(value) if where == "query" else _json_type(value)
        return InvalidParameter(f"{name} must be {_kinds(expected)}, not {seen}.")
    if kind == "enum":
        return InvalidParameter(f"{name} must be one of "
                                f"{', '.join(map(str, expected))}, not {value!r}.")
    if pattern == schemas.NAME_PATTERN and kind != "type":
        return InvalidParameter(
            f"Expected a logical name (RFC 3986 unreserved characters, not a UUID) but "
            f"received {value!r}")
    if pattern == schemas.TRAIT_RE.pattern:
        return invalid_trait(value)
    if pattern == schemas.UUID_PATTERN or (kind == "format" and expected == "uuid"):
        return InvalidParameter(f"Expected a UUID but received {value}.")
    if kind == "format" and expected == "mac-address":
        return InvalidParameter(f"Expected a MAC address but received {value}.")
    if field == "limit" and kind == "minimum":
        return InvalidParameter(f"Limit must be positive: {value}")
    if kind == "minItems" and expected == 1:
        return InvalidParameter(f"{name} must be a non-empty list.")
    if kind == "maxItems":
        return InvalidParameter(f"{name} takes at most {expected} items.")
    if not field:
        return InvalidParameter(f"Invalid {title}: {error.message}")
    return InvalidParameter(f"Invalid value for {field}: {error.message}")


def invalid_trait(trait: Any) -> InvalidParameter:
    return InvalidParameter(
        f"Invalid trait {trait!r}: a trait is a standard os-traits name or CUSTOM_ "
        "followed by capital letters, digits and underscores.")


def checker(schema: schemas.Schema) -> Checker:
    return Checker(schema, wording)


_CREATE_NODE = checker(schemas.CREATE_NODE)
_PATCHED_NODE = checker(schemas.PATCHED_NODE)
_CREATE_PORT = checker(schemas.CREATE_PORT)
_CREATE_ALLOCATION = checker(schemas.CREATE_ALLOCATION)
_PATCHED_ALLOCATION = checker(schemas.PATCHED_ALLOCATION)
_CREATE_CHASSIS = checker(schemas.CREATE_CHASSIS)
_PATCHED_CHASSIS = checker(schemas.PATCHED_CHASSIS)
_CREATE_DEPLOY_TEMPLATE = checker(schemas.CREATE_DEPLOY_TEMPLATE)
_PATCHED_DEPLOY_TEMPLATE = checker(schemas.PATCHED_DEPLOY_TEMPLATE)
_CREATE_RUNBOOK = checker(schemas.CREATE_RUNBOOK)
_PATCHED_RUNBOOK = checker(schemas.PATCHED_RUNBOOK)
_VOLUME = {"connector": (checker(schemas.CREATE_VOLUME_CONNECTOR),
                          checker(schemas.PATCHED_VOLUME_CONNECTOR)),
           "target": (checker(schemas.CREATE_VOLUME_TARGET),
                      checker(schemas.PATCHED_VOLUME_TARGET))}
_PORTGROUP = (checker(schemas.CREATE_PORTGROUP), checker(schemas.PATCHED_PORTGROUP))
_PATCH = checker(schemas.PATCH)
_TRAIT = checker(schemas.TRAIT)


def boolean(value: Any) -> Any:
    """An Ironic boolean spelling (``"True"``, ``"no"``...) as a bool; else unchanged."""
    if isinstance(value, str) and (read := spelled_bool(value)) is not None:
        return read
    return value


def normalize_mac(mac: str) -> str:
    value = mac.strip().lower().replace("-", ":")
    if not MAC_RE.match(value):
        raise InvalidParameter(f"Expected a MAC address but received {mac}.")
    return value


def _normalised(doc: dict[str, Any], schema: schemas.Schema,
                defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Every declared field (absent ones at their default or None), booleans as bools,
    UUIDs in lower case."""
    props: Mapping[str, Any] = schema["properties"]
    out = {k: doc[k] if k in doc else copy.deepcopy(defaults.get(k)) for k in props}
    for key, value in out.items():
        if props[key].get("pattern") == schemas.BOOL_PATTERN:
            out[key] = boolean(value)
        elif props[key].get("pattern") == schemas.UUID_PATTERN and isinstance(value, str):
            out[key] = value.lower()
    return out


def node(body: Any) -> dict[str, Any]:
    """A node's fields from a create request."""
    doc = _normalised(_CREATE_NODE.check(body), schemas.CREATE_NODE, schemas.NODE_DEFAULTS)
    doc["conductor_group"] = doc["conductor_group"].lower()
    return doc


def patched_node(doc: dict[str, Any]) -> dict[str, Any]:
    """A node's writable fields as a JSON patch left them (removed ones at their
    default)."""
    for key in ("conductor_group", "protected", "retired"):
        if doc.get(key) is None:
            doc[key] = schemas.NODE_DEFAULTS[key]
    out = _normalised(_PATCHED_NODE.check(doc), schemas.PATCHED_NODE, {})
    out["conductor_group"] = out["conductor_group"].lower()
    return out


def port(body: Any) -> dict[str, Any]:
    """A port's fields from a create request, or as a JSON patch left them."""
    doc = _normalised(_CREATE_PORT.check(body), schemas.CREATE_PORT, schemas.PORT_DEFAULTS)
    doc["address"] = normalize_mac(doc["address"])
    return doc


def allocation(body: Any) -> dict[str, Any]:
    doc = _normalised(_CREATE_ALLOCATION.check(body), schemas.CREATE_ALLOCATION, {})
    for key, empty in (("traits", []), ("candidate_nodes", []), ("extra", {})):
        if doc[key] is None:  # null, as Ironic takes it: none
            doc[key] = copy.deepcopy(empty)
    return doc


def patched_allocation(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(_PATCHED_ALLOCATION.check(doc))


def chassis(body: Any) -> dict[str, Any]:
    """A chassis's fields from a create request (null extra as ``{}``)."""
    doc = _normalised(_CREATE_CHASSIS.check(body), schemas.CREATE_CHASSIS, {})
    doc["extra"] = doc["extra"] or {}
    return doc


def patched_chassis(doc: dict[str, Any]) -> dict[str, Any]:
    out = _normalised(_PATCHED_CHASSIS.check(doc), schemas.PATCHED_CHASSIS, {})
    out["extra"] = out["extra"] or {}
    return out


def _deploy_template(doc: dict[str, Any], kind: str = "deploy template",
                     steps: str = "deploy steps") -> dict[str, Any]:
    """As Ironic's ``duplicate_steps``: each interface and step at most once in a
    template (or runbook)."""
    counts = Counter((s["interface"], s["step"]) for s in doc["steps"])
    dupes = sorted(key for key, n in counts.items() if n > 1)
    if dupes:
        raise InvalidParameter(
            f"Invalid {kind}: Duplicate {steps}. A {kind} cannot have multiple {steps} "
            "with the same interface and step. Duplicates: "
            + "; ".join(f"interface: {i}, step: {s}" for i, s in dupes))
    doc["extra"] = doc["extra"] or {}
    return doc


def deploy_template(body: Any) -> dict[str, Any]:
    """A deploy template's fields from a create request (null extra as ``{}``)."""
    return _deploy_template(_normalised(_CREATE_DEPLOY_TEMPLATE.check(body),
                                        schemas.CREATE_DEPLOY_TEMPLATE, {}))


def patched_deploy_template(doc: dict[str, Any]) -> dict[str, Any]:
    return _deploy_template(_normalised(_PATCHED_DEPLOY_TEMPLATE.check(doc),
                                        schemas.PATCHED_DEPLOY_TEMPLATE, {}))


def _runbook(doc: dict[str, Any]) -> dict[str, Any]:
    doc = _deploy_template(doc, "runbook", "steps")
    for step in doc["steps"]:
        step["order"] = int(step["order"])
        step.setdefault("args", {})
    doc["public"] = bool(doc.get("public"))
    doc["disable_ramdisk"] = bool(doc.get("disable_ramdisk"))
    if doc["public"] and doc.get("owner"):
        raise InvalidParameter("There cannot be an owner for a public runbook")
    return doc


def runbook(body: Any) -> dict[str, Any]:
    """A runbook's fields from a create request (null as the defaults)."""
    return _runbook(_normalised(_CREATE_RUNBOOK.check(body), schemas.CREATE_RUNBOOK, {}))


def patched_runbook(doc: dict[str, Any]) -> dict[str, Any]:
    return _runbook(_normalised(_PATCHED_RUNBOOK.check(doc), schemas.PATCHED_RUNBOOK, {}))


def volume(kind: str, body: Any, *, patched: bool = False) -> dict[str, Any]:
    """A volume connector's or target's fields (``kind``), from a create request or
    as a JSON patch left them; ``null`` objects as ``{}``."""
    checked = _VOLUME[kind][patched].check(body)
    doc = _normalised(checked, _VOLUME[kind][patched].schema, {})
    for key in ("extra", "properties"):
        if key in doc and doc[key] is None:
            doc[key] = {}
    doc["node_uuid"] = doc["node_uuid"].lower()
    return doc


def portgroup(body: Any, *, patched: bool = False) -> dict[str, Any]:
    """A port group's fields, from a create request or as a JSON patch left them
    (``null`` objects as ``{}``, standalone ports supported unless said otherwise)."""
    checker_ = _PORTGROUP[patched]
    doc = _normalised(checker_.check(body), checker_.schema, {})
    for key in ("extra", "properties"):
        doc[key] = doc[key] or {}
    if doc["standalone_ports_supported"] is None:
        doc["standalone_ports_supported"] = True
    if doc["address"] is not None:
        doc["address"] = normalize_mac(doc["address"])
    doc["node_uuid"] = doc["node_uuid"].lower()
    return doc


def patch(ops: Any) -> list[dict[str, Any]]:
    checked: list[dict[str, Any]] = _PATCH.check(ops)
    return checked


def trait(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid_trait(value)
    checked: str = _TRAIT.check(value)
    return checked
