"""The Identity declarations and Keystone's words for what they refuse: never a secret."""

from __future__ import annotations

from typing import Any

import pytest

from barecloud.errors import InvalidParameter
from barecloud.services.identity import schemas
from barecloud.services.validation import Checker, Schema

SECRET = "s3cret-never-echoed"


def refusal(schema: Schema, document: Any) -> str:
    with pytest.raises(InvalidParameter) as refused:
        Checker(schema, schemas.wording).check(document)
    return refused.value.message


def test_keystones_words() -> None:
    assert refusal(schemas.CREATE_PROJECT, {"project": {"name": 5}}) == \
        "Invalid input for field 'project/name': 5 is not of type 'string'"
    assert refusal(schemas.CREATE_PROJECT, {}) == "'project' is a required property"
    assert refusal(schemas.CREATE_APP_CREDENTIAL, {"application_credential": {
        "name": "x", "colour": "red"}}) == ("Invalid input for field 'application_credential': "
                                            "Additional properties are not allowed ('colour' "
                                            "was unexpected)")


@pytest.mark.parametrize(("schema", "document"), [
    (schemas.CREATE_USER, {"user": {"name": "u", "password": SECRET * 300}}),
    (schemas.CREATE_USER, {"user": {"name": "u", "password": [SECRET]}}),
    (schemas.CHANGE_PASSWORD, {"user": {"password": SECRET, "original_password": 5}}),
    (schemas.CREATE_APP_CREDENTIAL, {"application_credential": {"name": "c",
                                                                 "secret": {"s": SECRET}}}),
    (schemas.ISSUE_TOKEN, {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "u", "password": f"{SECRET}\x00"}}}}}),
])
def test_a_secret_is_never_repeated(schema: Schema, document: Any) -> None:
    message = refusal(schema, document)
    assert SECRET not in message and message.startswith("Invalid input for field '")


def test_names_may_not_be_blank_nor_hold_a_nul() -> None:
    checker = Checker(schemas.CREATE_ROLE, schemas.wording)
    assert checker.check({"role": {"name": " a "}})
    for bad in ("  ", "a\x00", ""):
        with pytest.raises(InvalidParameter):
            checker.check({"role": {"name": bad}})
