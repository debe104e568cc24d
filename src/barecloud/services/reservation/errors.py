"""Blazar's errors, with its messages (clients print ``error_message`` as it is).

Blazar answers "not enough hosts" and an unknown resource type with a 500;
here they are 409 and 400, because a 500 means a bug.
"""

from __future__ import annotations

from barecloud.errors import Conflict, InvalidParameter, NotFound

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
