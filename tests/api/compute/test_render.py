"""How Compute writes times: what Nova's strftime and isoformat calls write."""

from __future__ import annotations

import datetime as dt

import pytest

from barecloud.api.compute import render


@pytest.mark.parametrize("when", [
    dt.datetime(2026, 12, 7, 5, 11, 22, 450507), dt.datetime(2026, 1, 2, 3, 4, 5),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999999), dt.datetime(2026, 6, 1)])
def test_times_are_written_as_nova_writes_them(when: dt.datetime) -> None:
    assert render.iso_z(when) == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert render.iso(when) == when.isoformat()
    assert render.iso_z(None) is None and render.iso(None) is None
