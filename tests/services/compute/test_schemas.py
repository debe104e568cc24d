"""Compute's declarations in Nova's words, and what they leave to ``to_int``/``to_bool``."""

from __future__ import annotations

from typing import Any

import pytest

from barecloud.errors import InvalidParameter
from barecloud.services.compute import schemas
from barecloud.services.validation import query_document

LATEST = (2, 96)
OK = {"name": "x", "imageRef": "i", "flavorRef": "f", "networks": "none"}


def _refusal(checked: schemas.Versioned, doc: Any, where: str = "body",
             version: tuple[int, int] = LATEST) -> str:
    with pytest.raises(InvalidParameter) as refused:
        checked.checker(version).check(doc, where)
    return refused.value.message


def test_a_field_is_named_with_its_value_and_the_top_is_the_bare_message() -> None:
    assert _refusal(schemas.CREATE_SERVER, {"server": {**OK, "min_count": 0}}) == (
        "Invalid input for field/attribute min_count. Value: 0. "
        "0 is less than the minimum of 1")
    assert _refusal(schemas.CREATE_SERVER, {}) == "'server' is a required property"
    assert _refusal(schemas.CREATE_SERVER, {"server": {**OK, "name": ""}}) == (
        "Invalid input for field/attribute name. Value: . '' is too short")


def test_a_value_no_branch_fits_is_said_so_and_one_inside_a_branch_is_named() -> None:
    assert _refusal(schemas.CREATE_SERVER, {"server": {**OK, "networks": "all"}}).endswith(
        "'all' is not valid under any of the given schemas")
    assert _refusal(schemas.CREATE_SERVER, {"server": {**OK, "networks": [
        {"uuid": "x"}]}}) == "Invalid input for field/attribute uuid. Value: x. " \
        "'x' is not a 'uuid'"


def test_text_that_is_no_number_is_the_wrong_type() -> None:
    assert _refusal(schemas.UPDATE_QUOTAS, {"quota_set": {"cores": "many"}}).endswith(
        "'many' is not of type 'integer', 'string'")


def test_versions_add_and_remove_keys() -> None:
    personality = {"server": {**OK, "personality": []}}
    schemas.CREATE_SERVER.checker((2, 56)).check(personality)
    assert "('personality' was unexpected)" in _refusal(schemas.CREATE_SERVER, personality)
    assert "'networks' is a required property" in _refusal(
        schemas.CREATE_SERVER, {"server": {"name": "x", "flavorRef": "f"}})
    schemas.CREATE_SERVER.checker((2, 36)).check({"server": {"name": "x", "flavorRef": "f"}})
    published = schemas.CREATE_SERVER.published["properties"]["server"]
    assert {"personality", "hostname"} <= set(published["properties"])
    assert "networks" not in published["required"]


def test_query_parameters_in_novas_words() -> None:
    checker = schemas.LIST_SERVERS_QUERY.checker(LATEST)

    def refused(pairs: list[tuple[str, str]]) -> str:
        with pytest.raises(InvalidParameter) as error:
            checker.check(query_document(pairs, checker.schema), "query")
        return error.value.message

    assert refused([("sort_key", "colour")]).startswith(
        "Invalid input for query parameters sort_key. Value: colour. 'colour' is not one of")
    assert refused([("limit", "-1")]) == "limit param must be positive"
    assert refused([("limit", "many")]) == "limit param must be an integer"


def test_to_int_applies_the_bounds_to_digits_given_as_text() -> None:
    assert schemas.to_int({"n": "7"}, "n", schemas.COUNT) == 7
    assert schemas.to_int({}, "n", schemas.COUNT, 1) == 1
    with pytest.raises(InvalidParameter, match="less than the minimum of 1"):
        schemas.to_int({"n": "0"}, "n", schemas.COUNT)
    with pytest.raises(InvalidParameter, match="greater than the maximum"):
        schemas.to_int({"n": str(2**40)}, "n", schemas.COUNT)
    assert schemas.to_bool("Yes") is True and schemas.to_bool("off") is False
    assert schemas.to_bool(None, default=True) is True
