"""The vocabulary of node lifecycles: states, events and the transition table.

The table is data, not code, so that the API, the conductor, the docs and the
tests all read the same source of truth (Ironic's ``states.py`` and MAAS's
``NODE_TRANSITIONS`` follow the same idea).  Only
:func:`barecloud.db.transitions.apply_event` writes a state column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# --- provision states (the strings are Ironic's, clients compare them) -------
ENROLL: Final = "enroll"
VERIFYING: Final = "verifying"
MANAGEABLE: Final = "manageable"
INSPECTING: Final = "inspecting"
INSPECTWAIT: Final = "inspect wait"
INSPECTFAIL: Final = "inspect failed"
CLEANING: Final = "cleaning"
CLEANWAIT: Final = "clean wait"
CLEANFAIL: Final = "clean failed"
AVAILABLE: Final = "available"
DEPLOYING: Final = "deploying"
DEPLOYWAIT: Final = "wait call-back"
DEPLOYFAIL: Final = "deploy failed"
ACTIVE: Final = "active"
DELETING: Final = "deleting"
ERROR: Final = "error"
ADOPTING: Final = "adopting"
ADOPTFAIL: Final = "adopt failed"
RESCUING: Final = "rescuing"
RESCUEWAIT: Final = "rescue wait"
RESCUE: Final = "rescue"
RESCUEFAIL: Final = "rescue failed"
UNRESCUING: Final = "unrescuing"
UNRESCUEFAIL: Final = "unrescue failed"
SERVICING: Final = "servicing"
SERVICEFAIL: Final = "service failed"

# --- power states ------------------------------------------------------------
POWER_ON: Final = "power on"
POWER_OFF: Final = "power off"
REBOOT: Final = "rebooting"
SOFT_POWER_OFF: Final = "soft power off"
SOFT_REBOOT: Final = "soft rebooting"
POWER_TARGETS: Final = (POWER_ON, POWER_OFF, REBOOT, SOFT_POWER_OFF, SOFT_REBOOT)
# What a power target leaves the machine in once done.
POWER_RESULT: Final = {
    POWER_ON: POWER_ON,
    POWER_OFF: POWER_OFF,
    REBOOT: POWER_ON,
    SOFT_POWER_OFF: POWER_OFF,
    SOFT_REBOOT: POWER_ON,
}

# --- allocation states -------------------------------------------------------
ALLOCATING: Final = "allocating"
ALLOC_ACTIVE: Final = "active"
ALLOC_ERROR: Final = "error"


@dataclass(frozen=True, slots=True)
class State:
    name: str
    stable: bool
    # For a transient state, the stable state the node is heading for.
    target: str | None = None
    # For a transient state, where the node goes when its work is abandoned
    # (deadline passed, conductor restarted or died).
    on_failure: str | None = None
    # Wait states wait for the machine (an agent call-back) under a deadline.
    waits: bool = False


STATES: Final[dict[str, State]] = {
    s.name: s
    for s in (
        State(ENROLL, stable=True),
        State(MANAGEABLE, stable=True),
        State(AVAILABLE, stable=True),
        State(ACTIVE, stable=True),
        State(ERROR, stable=True),
        State(RESCUE, stable=True),
        State(INSPECTFAIL, stable=True, target=MANAGEABLE),
        State(CLEANFAIL, stable=True, target=AVAILABLE),
        State(DEPLOYFAIL, stable=True, target=ACTIVE),
        State(ADOPTFAIL, stable=True, target=ACTIVE),
        State(RESCUEFAIL, stable=True, target=RESCUE),
        State(UNRESCUEFAIL, stable=True, target=ACTIVE),
        State(SERVICEFAIL, stable=True, target=ACTIVE),
        State(VERIFYING, stable=False, target=MANAGEABLE, on_failure=ENROLL),
        State(INSPECTING, stable=False, target=MANAGEABLE, on_failure=INSPECTFAIL),
        State(INSPECTWAIT, stable=False, target=MANAGEABLE, on_failure=INSPECTFAIL, waits=True),
        State(CLEANING, stable=False, target=AVAILABLE, on_failure=CLEANFAIL),
        State(CLEANWAIT, stable=False, target=AVAILABLE, on_failure=CLEANFAIL, waits=True),
        State(DEPLOYING, stable=False, target=ACTIVE, on_failure=DEPLOYFAIL),
        State(DEPLOYWAIT, stable=False, target=ACTIVE, on_failure=DEPLOYFAIL, waits=True),
        State(DELETING, stable=False, target=AVAILABLE, on_failure=ERROR),
        State(ADOPTING, stable=False, target=ACTIVE, on_failure=ADOPTFAIL),
        State(RESCUING, stable=False, target=RESCUE, on_failure=RESCUEFAIL),
        State(RESCUEWAIT, stable=False, target=RESCUE, on_failure=RESCUEFAIL, waits=True),
        State(UNRESCUING, stable=False, target=ACTIVE, on_failure=UNRESCUEFAIL),
        State(SERVICING, stable=False, target=ACTIVE, on_failure=SERVICEFAIL),
    )
}

# --- events ------------------------------------------------------------------
# User-facing events are the verbs of PUT /v1/nodes/{id}/states/provision;
# internal ones (done, fail, wait, resume) come from workflows, the agent's
# heartbeat and the reconcilers (``clean`` is also the undeploy workflow's
# hand-over from deleting to cleaning).
USER_EVENTS: Final = (
    "manage", "provide", "inspect", "clean", "deploy", "rebuild", "delete",
    "abort", "rescue", "unrescue", "adopt", "service",
)
INTERNAL_EVENTS: Final = ("done", "fail", "wait", "resume")

# (from state, event) -> to state.  Order follows the life of a machine.
TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    # enrollment and verification
    (ENROLL, "manage"): VERIFYING,
    (VERIFYING, "done"): MANAGEABLE,
    (VERIFYING, "fail"): ENROLL,
    # inspection
    (MANAGEABLE, "inspect"): INSPECTING,
    (INSPECTFAIL, "inspect"): INSPECTING,
    (INSPECTING, "done"): MANAGEABLE,
    (INSPECTING, "wait"): INSPECTWAIT,
    (INSPECTING, "fail"): INSPECTFAIL,
    # A wait ends by resuming the workflow (the agent's heartbeat); the
    # workflow's own "done" then ends it, so no wait state goes "done" itself.
    (INSPECTWAIT, "resume"): INSPECTING,
    (INSPECTWAIT, "fail"): INSPECTFAIL,
    (INSPECTWAIT, "abort"): INSPECTFAIL,
    (INSPECTFAIL, "manage"): MANAGEABLE,
    # cleaning: automated on provide and after delete, manual from manageable
    (MANAGEABLE, "provide"): CLEANING,
    (MANAGEABLE, "clean"): CLEANING,
    (CLEANING, "done"): AVAILABLE,
    (CLEANING, "manage"): MANAGEABLE,  # end of a manual clean
    (CLEANING, "wait"): CLEANWAIT,
    (CLEANING, "fail"): CLEANFAIL,
    (CLEANWAIT, "resume"): CLEANING,
    (CLEANWAIT, "fail"): CLEANFAIL,
    (CLEANWAIT, "abort"): CLEANFAIL,
    (CLEANFAIL, "manage"): MANAGEABLE,
    (AVAILABLE, "manage"): MANAGEABLE,
    # deployment
    (AVAILABLE, "deploy"): DEPLOYING,
    (DEPLOYING, "wait"): DEPLOYWAIT,
    (DEPLOYWAIT, "resume"): DEPLOYING,
    (DEPLOYING, "done"): ACTIVE,
    (DEPLOYING, "fail"): DEPLOYFAIL,
    (DEPLOYWAIT, "fail"): DEPLOYFAIL,
    (DEPLOYWAIT, "abort"): DEPLOYFAIL,
    (DEPLOYFAIL, "deploy"): DEPLOYING,
    (DEPLOYFAIL, "rebuild"): DEPLOYING,
    (ACTIVE, "rebuild"): DEPLOYING,
    (ERROR, "rebuild"): DEPLOYING,
    # tear-down
    (ACTIVE, "delete"): DELETING,
    (DEPLOYFAIL, "delete"): DELETING,
    (DEPLOYWAIT, "delete"): DELETING,
    (ERROR, "delete"): DELETING,
    (RESCUE, "delete"): DELETING,
    (RESCUEWAIT, "delete"): DELETING,
    (RESCUEFAIL, "delete"): DELETING,
    (UNRESCUEFAIL, "delete"): DELETING,
    (DELETING, "clean"): CLEANING,
    (DELETING, "fail"): ERROR,
    # adoption of machines deployed by other means
    (MANAGEABLE, "adopt"): ADOPTING,
    (ADOPTING, "done"): ACTIVE,
    (ADOPTING, "fail"): ADOPTFAIL,
    (ADOPTFAIL, "adopt"): ADOPTING,
    (ADOPTFAIL, "manage"): MANAGEABLE,
    # rescue
    (ACTIVE, "rescue"): RESCUING,
    (RESCUE, "rescue"): RESCUING,
    (RESCUEFAIL, "rescue"): RESCUING,
    (UNRESCUEFAIL, "rescue"): RESCUING,
    (RESCUING, "wait"): RESCUEWAIT,
    (RESCUEWAIT, "resume"): RESCUING,
    (RESCUING, "done"): RESCUE,
    (RESCUING, "fail"): RESCUEFAIL,
    (RESCUEWAIT, "fail"): RESCUEFAIL,
    (RESCUEWAIT, "abort"): RESCUEFAIL,
    (RESCUE, "unrescue"): UNRESCUING,
    (RESCUEFAIL, "unrescue"): UNRESCUING,
    (UNRESCUEFAIL, "unrescue"): UNRESCUING,
    (UNRESCUING, "done"): ACTIVE,
    (UNRESCUING, "fail"): UNRESCUEFAIL,
    # servicing an active machine (1.87): Ironic's reserved steps only, run by
    # the conductor, so no wait for the machine and no hold (``unhold``, 1.85,
    # applies to no state here: services/baremetal/node_states.py)
    (ACTIVE, "service"): SERVICING,
    (SERVICING, "done"): ACTIVE,
    (SERVICING, "fail"): SERVICEFAIL,
    (SERVICEFAIL, "service"): SERVICING,
    (SERVICEFAIL, "rescue"): RESCUING,
    (SERVICEFAIL, "delete"): DELETING,
    (SERVICEFAIL, "abort"): ACTIVE,
}

# API verbs (``target`` of PUT .../states/provision) -> event.  "active" and
# "deleted" are the historical spellings; ``rebuild`` on an active node is
# chosen by the service from the current state.
VERB_EVENTS: Final[dict[str, str]] = {
    "manage": "manage",
    "provide": "provide",
    "inspect": "inspect",
    "clean": "clean",
    "active": "deploy",
    "deploy": "deploy",
    "rebuild": "rebuild",
    "deleted": "delete",
    "undeploy": "delete",
    "abort": "abort",
    "rescue": "rescue",
    "unrescue": "unrescue",
    "adopt": "adopt",
    "service": "service",
}
# Verbs Ironic takes that lead nowhere here: ``unhold`` leaves a hold state,
# which no barecloud workflow enters (no ``hold`` step).
NOWHERE_VERBS: Final = ("unhold",)

# Minimum Bare Metal API microversion of each verb.
VERB_MIN_VERSION: Final[dict[str, tuple[int, int]]] = {
    "manage": (1, 4),
    "provide": (1, 4),
    "inspect": (1, 6),
    "abort": (1, 13),
    "clean": (1, 15),
    "adopt": (1, 17),
    "rescue": (1, 38),
    "unrescue": (1, 38),
    "deploy": (1, 73),
    "undeploy": (1, 73),
    "unhold": (1, 85),
    "service": (1, 87),
}

def next_state(current: str, event: str) -> str | None:
    """Where ``event`` takes a node in ``current``, or None if it may not."""
    return TRANSITIONS.get((current, event))


def is_stable(state: str) -> bool:
    return STATES[state].stable


# --- lease statuses (Blazar's strings; python-blazarclient shows them) -------
LEASE_PENDING: Final = "PENDING"
LEASE_STARTING: Final = "STARTING"
LEASE_ACTIVE: Final = "ACTIVE"
LEASE_TERMINATING: Final = "TERMINATING"
LEASE_TERMINATED: Final = "TERMINATED"
LEASE_ERROR: Final = "ERROR"
# Deleted once started: ended first (as Blazar's delete runs on_end), then gone.
LEASE_DELETING: Final = "DELETING"
# A lease in these holds (or will hold) its machines: the calendar counts it.
LEASE_LIVE: Final = (LEASE_PENDING, LEASE_STARTING, LEASE_ACTIVE, LEASE_TERMINATING,
                     LEASE_DELETING)
# Which lease event moves a lease from which status, and where to (the lease
# manager moves leases only through this table).  Nothing leads to ERROR yet:
# a start that cannot finish waits, an end that cannot finish retries.
LEASE_TRANSITIONS: Final[dict[tuple[str, str], str]] = {
    (LEASE_PENDING, "start_lease"): LEASE_STARTING,
    (LEASE_STARTING, "started"): LEASE_ACTIVE,
    (LEASE_PENDING, "end_lease"): LEASE_TERMINATING,
    (LEASE_STARTING, "end_lease"): LEASE_TERMINATING,
    (LEASE_ACTIVE, "end_lease"): LEASE_TERMINATING,
    (LEASE_TERMINATING, "ended"): LEASE_TERMINATED,
    (LEASE_STARTING, "delete"): LEASE_DELETING,
    (LEASE_ACTIVE, "delete"): LEASE_DELETING,
    (LEASE_TERMINATING, "delete"): LEASE_DELETING,
}
# Reservation and event statuses.
RESV_PENDING: Final = "pending"
RESV_ACTIVE: Final = "active"
RESV_DELETED: Final = "deleted"
RESV_ERROR: Final = "error"
EVENT_UNDONE: Final = "UNDONE"
EVENT_IN_PROGRESS: Final = "IN_PROGRESS"
EVENT_DONE: Final = "DONE"
EVENT_ERROR: Final = "ERROR"


def next_lease_status(current: str, event: str) -> str | None:
    """Where ``event`` takes a lease in ``current``, or None if it may not."""
    return LEASE_TRANSITIONS.get((current, event))
