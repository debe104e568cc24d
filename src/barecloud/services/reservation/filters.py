"""Blazar's host filters: ``hypervisor_properties`` and ``resource_properties``.

The syntax is Blazar's (``convert_requirements``): ``""`` or ``[]`` (any
host), one comparison ``[OP, "$field", "value"]`` with OP one of ``=``,
``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, or ``["and", cmp, cmp, ...]``.
Anything else is "Malformed requirements".  A field is a host fact (vcpus,
memory_mb, ...) or an extra capability; a host without it does not match.

Two departures from Blazar, both where it surprises its users: values that
are both numbers compare as numbers (Blazar compares capabilities as
strings, so "10" < "9"), and "true"/"True" are the same boolean.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from barecloud.services.reservation.errors import MalformedRequirements

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "==": operator.eq, "!=": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


@dataclass(frozen=True)
class Comparison:
    op: str
    field: str
    value: str

    def matches(self, facts: Mapping[str, Any]) -> bool:
        if self.field not in facts or facts[self.field] is None:
            return False
        left, right = _comparable(facts[self.field], self.value)
        try:
            return OPS[self.op](left, right)
        except TypeError:
            return False


Filter = tuple[Comparison, ...]


def parse(text: Any) -> Filter:
    """The comparisons of a filter (all must hold); () for none."""
    if text is None or text == "":
        return ()
    if isinstance(text, str):
        try:
            value = json.loads(text)
        except ValueError:
            raise MalformedRequirements(text) from None
    else:
        value = text
    if value == []:
        return ()
    if not isinstance(value, list) or not value:
        raise MalformedRequirements(repr(value))
    if value[0] == "and":
        if len(value) < 2:
            raise MalformedRequirements(repr(value))
        return tuple(_comparison(item, value) for item in value[1:])
    return (_comparison(value, value),)


def _comparison(item: Any, whole: Any) -> Comparison:
    if not (isinstance(item, list) and len(item) == 3 and item[0] in OPS):
        raise MalformedRequirements(repr(whole))
    op, field, value = item
    if isinstance(value, bool):
        value = str(value).lower()
    elif isinstance(value, int | float):
        value = str(value)
    if not (isinstance(field, str) and field.startswith("$") and len(field) > 1
            and isinstance(value, str) and value):
        raise MalformedRequirements(repr(whole))
    return Comparison(op, field[1:], value)


def of(hypervisor_properties: Any, resource_properties: Any) -> Filter:
    """A reservation's two filters as one (a host must pass both)."""
    return parse(hypervisor_properties) + parse(resource_properties)


def matches(flt: Filter, facts: Mapping[str, Any]) -> bool:
    return all(c.matches(facts) for c in flt)


def _comparable(fact: Any, wanted: str) -> tuple[Any, Any]:
    left = str(fact).lower() if isinstance(fact, bool) else str(fact)
    try:
        return float(left), float(wanted)
    except ValueError:
        pass
    if left.lower() in ("true", "false") and wanted.lower() in ("true", "false"):
        return left.lower(), wanted.lower()
    return left, wanted
