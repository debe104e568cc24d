"""The one place that writes provision states, and records every change."""

from __future__ import annotations

from typing import Protocol

from barecloud import states
from barecloud.db.models import Node, NodeHistory, utcnow
from barecloud.errors import InvalidState


def apply_event(
    node: Node,
    event: str,
    *,
    message: str | None = None,
    request_id: str | None = None,
    conductor: str | None = None,
    user: str | None = None,
    error: bool = False,
) -> NodeHistory:
    """Move ``node`` along the transition table and return its history row.

    The caller adds the row to its session; both change in the same
    transaction, so the history never disagrees with the node.
    """
    current = node.provision_state
    new = states.next_state(current, event)
    if new is None:
        raise InvalidState(
            f"The requested action \"{event}\" can not be performed on node "
            f"\"{node.uuid}\" while it is in state \"{current}\"."
        )
    node.provision_state = new
    info = states.STATES[new]
    node.target_provision_state = None if info.stable else info.target
    node.provision_updated_at = utcnow()
    text = f"{event}: {current} -> {new}"
    if message:
        text = f"{text}: {message}"
    return NodeHistory(
        node_id=node.id,
        event=text,
        event_type="provisioning",
        severity="ERROR" if error else "INFO",
        from_state=current,
        to_state=new,
        request_id=request_id,
        conductor=conductor,
        user=user,
    )


def initial_state(node: Node, state: str, *, request_id: str | None = None) -> NodeHistory:
    """Set the state of a node being created (its first history row)."""
    node.provision_state = state
    node.target_provision_state = None
    node.provision_updated_at = utcnow()
    return NodeHistory(
        node_id=node.id,
        event=f"create: -> {state}",
        event_type="provisioning",
        from_state=None,
        to_state=state,
        request_id=request_id,
    )


class Stated(Protocol):
    """What :func:`note` reads of a node: a loaded row or a lighter stand-in."""

    @property
    def id(self) -> int: ...

    @property
    def provision_state(self) -> str: ...


def note(
    node: Stated,
    event: str,
    *,
    event_type: str,
    error: bool = False,
    request_id: str | None = None,
    conductor: str | None = None,
    duration: float | None = None,
) -> NodeHistory:
    """A history row that is not a provision state change (power, steps, faults)."""
    return NodeHistory(
        node_id=node.id,
        event=event,
        event_type=event_type,
        severity="ERROR" if error else "INFO",
        from_state=node.provision_state,
        to_state=node.provision_state,
        request_id=request_id,
        conductor=conductor,
        duration=duration,
    )


def clear_work(node: Node) -> None:
    """No workflow, no deadline, no lock: the node is nobody's work any more."""
    node.workflow = None
    node.workflow_step = 0
    node.workflow_args = {}
    node.workflow_deadline = None
    node.reservation = None


def fail_and_clear(
    node: Node,
    message: str,
    *,
    event: str = "fail",
    conductor: str | None = None,
    request_id: str | None = None,
    user: str | None = None,
) -> NodeHistory:
    """End the node's work with ``message`` as its ``last_error``: the one way to.

    A power action changes no provision state: its target is dropped and the
    failure noted.  Otherwise the node takes ``event`` (``fail``, or ``abort``
    from a wait state) if the table has it from where it is; a stable node (a
    lock held around I/O, abandoned) only gets the note.  Then the workflow,
    its step, arguments and deadline and the lock are cleared.  The caller adds
    the returned history row to its session, as with :func:`apply_event`.
    """
    node.last_error = message
    if node.workflow == "power":
        node.target_power_state = None
        row = note(node, f"power action failed: {message}", event_type="power", error=True,
                   conductor=conductor, request_id=request_id)
    elif states.next_state(node.provision_state, event):
        row = apply_event(node, event, message=message, error=True, conductor=conductor,
                          request_id=request_id, user=user)
    else:
        row = note(node, message, event_type="provisioning", error=True, conductor=conductor,
                   request_id=request_id)
    clear_work(node)
    return row
