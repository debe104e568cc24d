"""Input declared once, as JSON Schema, checked with the ``jsonschema`` library.

Nova, Neutron, Glance, Keystone and Ironic declare what a client may send as JSON
Schema and check it with ``jsonschema``; barecloud does the same for all six APIs
(docs/design/input.md).  A declaration lives in its service's ``schemas.py``; the
API layer checks requests against it (api/accepts.py) and publishes it in
/openapi.json, and a service may check a document it built (a node after a JSON
patch) against the same declaration.  Each service words the errors as the
OpenStack service it stands in for: ``Wording`` turns jsonschema's error into that
service's exception.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from barecloud.errors import BarecloudError, InvalidParameter

Schema = dict[str, Any]
# What a service raises for input that breaks its declaration; ``where`` is "body"
# or "query".
Wording = Callable[[jsonschema.ValidationError, str], BarecloudError]

# A UUID in its canonical spelling (the ``pattern`` of an id in a declaration).
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# oslo's bool_from_string(strict=True) spellings: what OpenStack services accept in
# query strings (and Ironic also in bodies).
TRUE_STRINGS = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE_STRINGS = frozenset({"0", "f", "false", "off", "n", "no"})


def spelled_bool(text: str) -> bool | None:
    """``text`` as oslo's strict boolean spellings read it; None if it is not one."""
    word = text.strip().lower()
    if word in TRUE_STRINGS:
        return True
    if word in FALSE_STRINGS:
        return False
    return None


# jsonschema's own formats (ipv4, ipv6, date-time, ...) plus the OpenStack ones below.
FORMATS = FormatChecker()


def _uuid(value: object) -> bool:
    """Any spelling ``uuid.UUID`` reads, as Nova's and Ironic's ``uuid`` format."""
    return not isinstance(value, str) or bool(uuid.UUID(value))


def _cidr(value: object) -> bool:
    return not isinstance(value, str) or bool(ipaddress.ip_network(value, strict=False))


def _date_time(value: object) -> bool:
    """ISO 8601 as the services read it (oslo's ``parse_isotime``): offset optional."""
    return not isinstance(value, str) or bool(datetime.fromisoformat(value.replace("Z", "+00:00")))


_MAC = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")


def _mac(value: object) -> bool:
    return not isinstance(value, str) or bool(_MAC.match(value))


FORMATS.checkers["uuid"] = (_uuid, ValueError)
FORMATS.checkers["cidr"] = (_cidr, ValueError)
FORMATS.checkers["date-time"] = (_date_time, ValueError)
FORMATS.checkers["mac-address"] = (_mac, ())


def plain_wording(error: jsonschema.ValidationError, where: str) -> BarecloudError:
    """For callers with no service of their own: the path and jsonschema's message."""
    path = ".".join(str(p) for p in error.absolute_path)
    return InvalidParameter(f"Invalid input for {path or where}: {error.message}")


# Every declaration made in this process, for tests/services/test_validation.py to
# check against the metaschema (doing it at import cost each start ~1 s of CPU).
DECLARED: list[Checker] = []


@dataclass(eq=False)
class Checker:
    """One declaration, compiled on first use: validates documents and reports the
    most relevant error (``best_match``, as the OpenStack services pick theirs)."""

    schema: Schema
    wording: Wording = plain_wording

    def __post_init__(self) -> None:
        DECLARED.append(self)

    @functools.cached_property
    def _validator(self) -> Draft202012Validator:
        return Draft202012Validator(self.schema, format_checker=FORMATS)

    def verify(self) -> None:
        """Raise ``jsonschema.SchemaError`` if the declaration is not valid JSON Schema."""
        Draft202012Validator.check_schema(self.schema)

    def check(self, document: Any, where: str = "body") -> Any:
        error = best_match(self._validator.iter_errors(document))
        if error is not None:
            raise self.wording(error, where)
        return document

    def errors(self, document: Any) -> list[jsonschema.ValidationError]:
        return sorted(self._validator.iter_errors(document), key=lambda e: list(e.path))


def _types(prop: Mapping[str, Any]) -> Sequence[str]:
    kind = prop.get("type", ())
    return (kind,) if isinstance(kind, str) else tuple(kind)


def _coerce(raw: str, prop: Mapping[str, Any]) -> Any:
    """A query string's text as the type its declaration names, when it reads as one;
    otherwise the text, for the declaration to refuse in the service's words."""
    kinds = _types(prop)
    if "string" in kinds or not kinds:
        return raw
    if "integer" in kinds and re.fullmatch(r"[+-]?\d+", raw.strip()):
        return int(raw)
    if "number" in kinds:
        try:
            return float(raw)
        except ValueError:
            pass
    if "boolean" in kinds and (read := spelled_bool(raw)) is not None:
        return read
    if "null" in kinds and raw == "":
        return None
    return raw


def query_document(pairs: Sequence[tuple[str, str]], schema: Schema) -> dict[str, Any]:
    """A query string as the document its declaration describes: one value per name
    (the last, as webob's ``params.get``), or every value for an ``array`` property."""
    props: Mapping[str, Any] = schema.get("properties", {})
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    doc: dict[str, Any] = {}
    for key, seen in values.items():
        prop = props.get(key, {})
        if "array" in _types(prop):
            items = prop.get("items", {})
            doc[key] = [_coerce(v, items) for v in seen]
        else:
            doc[key] = _coerce(seen[-1], prop)
    return doc
