"""The lease clock: real UTC time, or the time a test or demo writes in a file.

Leases are about the calendar, and tests cannot wait for next week: with
``lease_clock_file`` set, "now" is the ISO time in that file, read again on
each call, so a test moves time forward by rewriting it.  Nothing else in the
service reads this clock.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from barecloud.config import Settings
from barecloud.db.models import utcnow


def now(settings: Settings) -> dt.datetime:
    """Naive UTC, like every time in the database."""
    if not settings.lease_clock_file:
        return utcnow()
    text = Path(settings.lease_clock_file).read_text().strip()
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment
