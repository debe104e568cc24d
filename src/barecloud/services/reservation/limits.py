"""The operator's lease policy: how long, how late an extension, how many machines.

Each refusal names the limit and what was asked, in Blazar's wording where
Blazar has one (its MaxLeaseDurationFilter).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.config import Settings
from barecloud.services.reservation.calendar import project_peak
from barecloud.services.reservation.errors import PolicyRefusal


def check_duration(settings: Settings, start: dt.datetime, end: dt.datetime) -> None:
    limit = settings.lease_max_duration
    seconds = int((end - start).total_seconds())
    if limit > 0 and seconds > limit:
        raise PolicyRefusal(
            f"Lease duration of {seconds} seconds must be less than or equal to the "
            f"maximum lease duration of {limit} seconds.")


def check_extension(settings: Settings, now: dt.datetime, old_end: dt.datetime,
                    new_end: dt.datetime) -> None:
    """An end moved later is accepted only within ``lease_extension_window`` of the end."""
    window = settings.lease_extension_window
    if window <= 0 or new_end <= old_end:
        return
    opens = old_end - dt.timedelta(seconds=window)
    if now < opens:
        raise PolicyRefusal(
            f"The lease can be extended only within {_span(window)} of its end: from "
            f"{opens:%Y-%m-%d %H:%M} on (it ends {old_end:%Y-%m-%d %H:%M}).")


async def hosts_allowed(s: AsyncSession, settings: Settings, project: str,
                        start: dt.datetime, end: dt.datetime, wanted_min: int,
                        wanted_max: int, exclude_reservation: str | None = None) -> int:
    """How many hosts (at most ``wanted_max``) the project may add over the window."""
    limit = settings.lease_max_hosts_per_project
    if limit <= 0:
        return wanted_max
    held = await project_peak(s, project, start, end, exclude_reservation)
    room = limit - held
    if room < wanted_min:
        raise PolicyRefusal(
            f"A project may hold at most {limit} machines at once; this project already "
            f"holds {held} during the window and asked for {wanted_min} more.")
    return min(wanted_max, room)


def _span(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    return f"{seconds} seconds"
