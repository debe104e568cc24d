"""The declaration checker: query strings read as their declared types, formats, wording."""

from __future__ import annotations

import jsonschema
import pytest

from barecloud.errors import BarecloudError, InvalidParameter
from barecloud.services.validation import DECLARED, Checker, query_document

QUERY = {"type": "object", "properties": {
    "limit": {"type": "integer", "minimum": 0},
    "detail": {"type": "boolean"},
    "id": {"type": "array", "items": {"type": "string", "format": "uuid"}},
    "name": {"type": "string"},
}}


def test_a_query_string_reads_as_its_declared_types() -> None:
    pairs = [("limit", "10"), ("detail", "Yes"), ("id", "9f1e62f2-0b2c-4d43-9d7a-8f8e6f3c1b2a"),
             ("id", "2f1e62f2-0b2c-4d43-9d7a-8f8e6f3c1b2a"), ("name", "12"), ("name", "n2")]
    doc = query_document(pairs, QUERY)
    assert doc == {"limit": 10, "detail": True, "name": "n2",
                   "id": ["9f1e62f2-0b2c-4d43-9d7a-8f8e6f3c1b2a",
                          "2f1e62f2-0b2c-4d43-9d7a-8f8e6f3c1b2a"]}
    assert Checker(QUERY).check(doc, "query") == doc


def test_text_that_is_not_the_declared_type_is_refused_in_the_services_words() -> None:
    def nova(error: jsonschema.ValidationError, where: str) -> BarecloudError:
        path = "/".join(str(p) for p in error.absolute_path)
        return InvalidParameter(f"Invalid input for query parameters {path}. "
                                f"Value: {error.instance}. {error.message}")

    checker = Checker(QUERY, nova)
    with pytest.raises(InvalidParameter) as refused:
        checker.check(query_document([("limit", "ten")], QUERY), "query")
    assert refused.value.message == ("Invalid input for query parameters limit. Value: ten. "
                                     "'ten' is not of type 'integer'")
    with pytest.raises(InvalidParameter, match="is less than the minimum of 0"):
        checker.check(query_document([("limit", "-1")], QUERY), "query")
    with pytest.raises(InvalidParameter, match="is not a 'uuid'"):
        checker.check(query_document([("id", "nope")], QUERY), "query")


@pytest.mark.parametrize(("fmt", "good", "bad"), [
    ("uuid", "9F1E62F2-0B2C-4D43-9D7A-8F8E6F3C1B2A", "9f1e62f2"),
    ("cidr", "10.0.0.0/24", "10.0.0.0/33"),
    ("date-time", "2026-12-06T10:00:00Z", "yesterday"),
    ("mac-address", "52:54:00:12:34:56", "52:54:00:12:34"),
    ("ipv6", "2001:db8::1", "2001:db8::g"),
])
def test_formats(fmt: str, good: str, bad: str) -> None:
    checker = Checker({"type": "string", "format": fmt})
    assert checker.check(good) == good
    with pytest.raises(InvalidParameter):
        checker.check(bad)


def test_a_broken_declaration_is_refused_by_the_metaschema() -> None:
    broken = Checker({"type": "object", "properties": {"n": {"type": "integr"}}})
    DECLARED.remove(broken)  # not one of the service's
    with pytest.raises(jsonschema.SchemaError):
        broken.verify()


def test_every_declaration_of_the_service_is_valid_json_schema() -> None:
    from barecloud.api import app  # noqa: F401  (every API module, so every declaration)
    from barecloud.services.compute import schemas as compute

    for versioned in vars(compute).values():  # Compute's per-microversion checkers
        if isinstance(versioned, compute.Versioned):
            for version in ((2, 1), (2, 19), (2, 37), (2, 57), (2, 96)):
                versioned.checker(version)
    checked = [c for c in DECLARED if c.schema]
    assert len(checked) > 150
    for checker in checked:
        checker.verify()
