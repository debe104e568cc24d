"""Nova's server states: vm_state and task_state, the status clients see, power states.

The status is derived, never stored (Nova's ``_STATE_MAP``): a server
``active`` with task ``rebooting`` reads ``REBOOT``.  The list filter
``status=`` maps back to SQL conditions on both columns.
"""

from __future__ import annotations

from sqlalchemy import and_, false, or_
from sqlalchemy.sql.elements import ColumnElement

from barecloud import states
from barecloud.db.compute_models import Server
from barecloud.errors import InvalidParameter

# vm_state
BUILDING, ACTIVE, STOPPED, ERROR, DELETED = "building", "active", "stopped", "error", "deleted"
# A VM whose host stopped reporting (services/compute/vm_sync.py): status UNKNOWN.
UNKNOWN = "unknown"
# A VM resized on its host, waiting for confirmResize: status VERIFY_RESIZE.
RESIZED = "resized"
# task_state
SCHEDULING, SPAWNING, DELETING = "scheduling", "spawning", "deleting"
# A VM placed, its ports being bound (services/compute/vm_networks.py).
NETWORKING = "networking"
REBOOTING, REBOOTING_HARD = "rebooting", "rebooting_hard"
POWERING_OFF, POWERING_ON = "powering-off", "powering-on"
REBUILDING, REBUILD_SPAWNING = "rebuilding", "rebuild_spawning"
REBUILD_TASKS = (REBUILDING, REBUILD_SPAWNING)
RESIZE_PREP = "resize_prep"
# power_state (Nova's integers)
NOSTATE, RUNNING, SHUTDOWN = 0, 1, 4

# Every status Nova defines: filtering on one barecloud never shows gives [].
KNOWN = ("ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING", "PASSWORD",
         "PAUSED", "REBOOT", "REBUILD", "RESCUE", "RESIZE", "REVERT_RESIZE", "SHELVED",
         "SHELVED_OFFLOADED", "SHUTOFF", "SOFT_DELETED", "SUSPENDED", "UNKNOWN",
         "VERIFY_RESIZE")


def status(vm_state: str, task_state: str | None) -> str:
    if vm_state == BUILDING:
        return "BUILD"
    if vm_state == DELETED:
        return "DELETED"
    if task_state in REBUILD_TASKS and vm_state in (ACTIVE, STOPPED, ERROR):
        return "REBUILD"
    if task_state == RESIZE_PREP and vm_state in (ACTIVE, STOPPED):
        return "RESIZE"
    if vm_state == RESIZED:
        return "VERIFY_RESIZE"
    if vm_state == ACTIVE:
        if task_state == REBOOTING:
            return "REBOOT"
        if task_state == REBOOTING_HARD:
            return "HARD_REBOOT"
        return "ACTIVE"
    if vm_state == STOPPED:
        return "SHUTOFF"
    if vm_state == ERROR:
        return "ERROR"
    return "UNKNOWN"


def power_state_of(node_power: str | None) -> int:
    if node_power == states.POWER_ON:
        return RUNNING
    if node_power == states.POWER_OFF:
        return SHUTDOWN
    return NOSTATE


def _not_task(*tasks: str) -> ColumnElement[bool]:
    return or_(Server.task_state.is_(None), Server.task_state.not_in(tasks))


def condition(name: str, version: tuple[int, int]) -> ColumnElement[bool]:
    """The servers whose status is ``name``; 400 for a status Nova does not define."""
    wanted = name.upper()
    if wanted not in KNOWN:
        if version >= (2, 38):
            raise InvalidParameter("Invalid status value")
        return false()
    reboot_or_rebuild = (REBOOTING, REBOOTING_HARD, *REBUILD_TASKS)
    table: dict[str, ColumnElement[bool]] = {
        "BUILD": Server.vm_state == BUILDING,
        "ACTIVE": and_(Server.vm_state == ACTIVE, _not_task(*reboot_or_rebuild, RESIZE_PREP)),
        "REBOOT": and_(Server.vm_state == ACTIVE, Server.task_state == REBOOTING),
        "HARD_REBOOT": and_(Server.vm_state == ACTIVE, Server.task_state == REBOOTING_HARD),
        "REBUILD": and_(Server.vm_state.in_((ACTIVE, STOPPED, ERROR)),
                        Server.task_state.in_(REBUILD_TASKS)),
        "SHUTOFF": and_(Server.vm_state == STOPPED, _not_task(*REBUILD_TASKS, RESIZE_PREP)),
        "RESIZE": and_(Server.vm_state.in_((ACTIVE, STOPPED)), Server.task_state == RESIZE_PREP),
        "VERIFY_RESIZE": Server.vm_state == RESIZED,
        "ERROR": and_(Server.vm_state == ERROR, _not_task(*REBUILD_TASKS)),
        "DELETED": Server.deleted.is_(True),
        "UNKNOWN": Server.vm_state == UNKNOWN,
    }
    return table.get(wanted, false())
