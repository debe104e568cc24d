"""Blazar's errors, with its messages (clients print ``error_message`` as it is).

Blazar answers "not enough hosts" and an unknown resource type with a 500;
here they are 409 and 400, because a 500 means a bug.  ``wording`` says in
Blazar's words why input its declaration (schemas.py) refused is wrong,
picked by the ``title`` of the part of the declaration that refused it.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from barecloud.errors import BarecloudError, Conflict, InvalidParameter, NotFound

DATE_FORMAT = "%Y-%m-%d %H:%M"


class LeaseNotFound(NotFound):
    def __init__(self, lease_id: str) -> None:
        super().__init__(f"Object with {{'lease_id': '{lease_id}'}} not found")


class HostNotFound(NotFound):
    def __init__(self, host_id: str) -> None:
        super().__init__(f"Object with {{'host_id': '{host_id}'}} not found")


class InvalidDate(InvalidParameter):
    def __init__(self, value: object) -> None:
        super().__init__(f"{value} is an invalid date. Required format: {DATE_FORMAT}")


class MalformedRequirements(InvalidParameter):
    def __init__(self, value: object) -> None:
        super().__init__(f"Malformed requirements {value}")


class NotEnoughHosts(Conflict):
    def __init__(self, why: str = "") -> None:
        super().__init__("Not enough hosts available" + (f": {why}" if why else ""))


class PolicyRefusal(InvalidParameter):
    """A lease policy setting says no (docs/design/leasing.md, Policy)."""


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _field(error: jsonschema.ValidationError) -> str:
    return str(error.absolute_path[-1]) if error.absolute_path else ""


def _missing(error: jsonschema.ValidationError) -> str:
    """Blazar's ``Missing parameter a, b`` for a required field absent (or blank);
    the lease's name and dates are named before its reservations, as Blazar checks."""
    doc = error.instance if isinstance(error.instance, dict) else {}
    required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
    names = [n for n in required if _blank(doc.get(n))]
    first = [n for n in names if n != "reservations"]
    return f"Missing parameter {', '.join(first or names)}"


def _message(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    title, value, field = schema.get("title"), error.instance, _field(error)
    if title == "property":
        return "Missing parameter private (true or false)"
    if title == "required date":
        return f"Missing parameter {field}" if _blank(value) else str(InvalidDate(value))
    if error.validator == "required":
        if title == "reservation" and isinstance(value, dict) and "resource_type" not in value:
            return "The None resource type is not supported"
        if title == "reservation change":
            return "Missing parameter reservation ID"
        return _missing(error)
    if title == "required" or (title == "lease name" and error.validator != "maxLength"):
        return f"Missing parameter {field}"
    if title == "lease name":
        return f"The lease name must be at most {schema['maxLength']} characters."
    if title == "date":
        return str(InvalidDate(value))
    if title == "reservation":
        return "Each reservation must be a JSON object."
    if title == "resource type":
        return f"The {value} resource type is not supported"
    if title == "count":
        return f"{'Missing' if _blank(value) else 'Malformed'} parameter {field}"
    if title == "filter":
        return f"Malformed requirements {value!r}"
    if title == "before_end":
        return "Malformed parameter before_end"
    if title == "reservation changes":
        return "reservations must be a list"
    if title == "reservation change":
        return "Missing parameter reservation ID"
    if title == "capability key":
        return "Extra capability key too long"
    if title == "capability":
        return f"Extra capability {field} must be a string"
    return f"Invalid input for {field or 'the request'}: {error.message}"


def wording(error: jsonschema.ValidationError, where: str) -> BarecloudError:
    return InvalidParameter(_message(error))
