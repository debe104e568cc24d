"""What a host agent's report of one VM means for its server (a pure function).

The host says what QEMU says (``running``, ``shutoff``, ...) and the last
``seq`` of that VM's desired entry it carried out; the server follows:
a build or an action ends when the host has carried out the server's
current ``action_seq``, and a server with nothing under way takes the
state the host reports (a guest that shut itself down is SHUTOFF, as
Nova's power-state sync makes it).  Nothing is assumed: a VM the host does
not have is an ERROR with a fault, not ACTIVE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from barecloud.db.models import utcnow
from barecloud.services.compute import scheduler
from barecloud.services.compute import status as st

RUNNING, PAUSED, SHUTOFF, CRASHED, MISSING = "running", "paused", "shutoff", "crashed", "missing"
VM_STATES = (RUNNING, PAUSED, SHUTOFF, CRASHED, MISSING)
# Nova's power_state integers.
POWER = {RUNNING: st.RUNNING, PAUSED: 3, SHUTOFF: st.SHUTDOWN, CRASHED: 6, MISSING: st.NOSTATE}
DELETE = "delete"  # the answer that says: the VM is gone, mark the server deleted


@dataclass(frozen=True)
class Report:
    state: str
    seq: int
    error: str | None = None

    @classmethod
    def of(cls, item: dict[str, Any]) -> Report:
        return cls(str(item["state"]), int(item.get("seq") or 0), item.get("error"))


class Seen(Protocol):
    """What a transition reads of a server (a row of Server, or just those columns)."""

    @property
    def uuid(self) -> str: ...
    @property
    def action_seq(self) -> int: ...
    @property
    def pending(self) -> str | None: ...
    @property
    def pending_sent(self) -> bool: ...
    @property
    def vm_state(self) -> str: ...
    @property
    def task_state(self) -> str | None: ...
    @property
    def power_state(self) -> int: ...
    @property
    def fault(self) -> dict[str, Any] | None: ...


def _settled(report: Report, host: str) -> dict[str, Any]:
    """The server's state when nothing is under way."""
    values: dict[str, Any] = {"power_state": POWER[report.state], "task_state": None}
    if report.state in (RUNNING, PAUSED):
        values.update(vm_state=st.ACTIVE, fault=None)
    elif report.state == SHUTOFF:
        values.update(vm_state=st.STOPPED, fault=None)
    elif report.state == CRASHED:
        values.update(vm_state=st.ERROR, fault=scheduler.fault(
            f"The instance crashed on host {host} (its QEMU reported a guest panic or an "
            "internal error)."))
    else:
        values.update(vm_state=st.ERROR, fault=scheduler.fault(
            f"Host {host} has no such instance any more."))
    return values


def transition(server: Seen, report: Report, host: str) -> dict[str, Any] | str | None:
    """The new values of ``server`` (or DELETE), or None when nothing changes."""
    caught_up = report.seq >= server.action_seq
    if server.pending == "delete":
        if server.pending_sent and caught_up and report.state == MISSING:
            return DELETE
        return None
    if not caught_up:
        return None  # the host has not acted on the latest request yet
    failed = report.error is not None and report.seq == server.action_seq
    if server.vm_state == st.BUILDING:
        if failed:
            return {"vm_state": st.ERROR, "task_state": None, "power_state": st.NOSTATE,
                    "fault": scheduler.fault(
                        f"Build of instance {server.uuid} failed on host {host}: "
                        f"{report.error}")}
        return {**_settled(report, host), "launched_at": utcnow()}
    values: dict[str, Any] = {}
    if server.pending is not None:
        if not server.pending_sent:
            return None
        values.update(pending=None, pending_sent=False)
        if failed:
            values.update(task_state=None, fault=scheduler.fault(
                f"Host {host} could not {server.pending.replace('_', ' ')} instance "
                f"{server.uuid}: {report.error}"))
            if server.pending.startswith(("reboot", "rebuild", "resize")):
                values["vm_state"] = st.ERROR
            return values
        if server.pending in ("rebuild", "resize"):
            values["launched_at"] = utcnow()
    values.update(_settled(report, host))
    if server.pending == "resize" and values["vm_state"] in (st.ACTIVE, st.STOPPED):
        values["vm_state"] = st.RESIZED  # VERIFY_RESIZE, until confirmResize
    elif server.vm_state == st.RESIZED and server.pending is None and (
            values["vm_state"] in (st.ACTIVE, st.STOPPED)):
        del values["vm_state"]  # still waiting for the confirmation; power as reported
    return values if _changes(server, values) else None


def _changes(server: Seen, values: dict[str, Any]) -> bool:
    for name, value in values.items():
        now = getattr(server, name, None)
        if name == "fault":
            if (now or {}).get("message") != (value or {}).get("message"):
                return True
        elif now != value:
            return True
    return False
