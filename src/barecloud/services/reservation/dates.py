"""Lease dates as Blazar reads and writes them.

Requests say ``now`` or ``YYYY-MM-DD hh:mm`` (seconds and ISO's ``T`` are
accepted too); responses say ``2030-01-01T12:00:00.000000``, the format
python-blazarclient parses before it adds ``--prolong-for`` to an end date.
"""

from __future__ import annotations

import datetime as dt

from barecloud.services.reservation.errors import InvalidDate

OUT = "%Y-%m-%dT%H:%M:%S.%f"
_IN = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S",
       "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def parse(value: object, now: dt.datetime) -> dt.datetime:
    if value == "now":
        return now
    if isinstance(value, str):
        text = value.strip().removesuffix("Z")
        for fmt in _IN:
            try:
                return dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
    raise InvalidDate(value)


def render(value: dt.datetime | None) -> str | None:
    return value.strftime(OUT) if value is not None else None


def stamp(value: dt.datetime | None) -> str | None:
    """``created_at`` / ``updated_at``, as Blazar's models print them."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def minute(value: dt.datetime) -> dt.datetime:
    """Blazar compares request dates with "now" to the minute."""
    return value.replace(second=0, microsecond=0)
