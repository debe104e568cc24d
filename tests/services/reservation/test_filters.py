"""Blazar's filter syntax, and what barecloud compares differently on purpose."""

from __future__ import annotations

import pytest

from barecloud.services.reservation import filters
from barecloud.services.reservation.errors import MalformedRequirements

HOST = {"memory_mb": 65536, "vcpus": 16, "gpu": "True", "rack": "r10", "size": "10"}


@pytest.mark.parametrize(("text", "expected"), [
    ("", True),
    ("[]", True),
    ('[">=", "$memory_mb", "65536"]', True),
    ('[">", "$memory_mb", "65536"]', False),
    ('["=", "$gpu", "true"]', True),  # booleans ignore case
    ('["==", "$rack", "r10"]', True),
    ('["!=", "$rack", "r10"]', False),
    ('[">", "$size", "9"]', True),  # numbers compare as numbers, not strings
    ('["and", [">=", "$memory_mb", "65536"], ["=", "$gpu", "true"]]', True),
    ('["and", [">=", "$memory_mb", "65536"], ["=", "$gpu", "false"]]', False),
    ('["=", "$missing", "x"]', False),  # a host without the capability does not match
])
def test_filters(text: str, expected: bool) -> None:
    assert filters.matches(filters.parse(text), HOST) is expected


@pytest.mark.parametrize("text", [
    "not json", '["or", ["=", "$a", "b"]]', '["=", "a", "b"]', '["=", "$a"]', '["and"]',
    '{"=": 1}', '["~", "$a", "b"]', '["=", "$a", ""]',
])
def test_malformed(text: str) -> None:
    with pytest.raises(MalformedRequirements) as err:
        filters.parse(text)
    assert err.value.message.startswith("Malformed requirements ")
    assert err.value.code == 400
