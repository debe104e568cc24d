"""The transition table is consistent and complete."""

from __future__ import annotations

from barecloud import states


def test_every_state_in_the_table_is_declared() -> None:
    for (src, event), dst in states.TRANSITIONS.items():
        assert src in states.STATES, src
        assert dst in states.STATES, dst
        assert event in states.USER_EVENTS + states.INTERNAL_EVENTS, event


def test_every_transient_state_can_fail_or_error() -> None:
    for state in states.STATES.values():
        if state.stable:
            continue
        assert state.on_failure in states.STATES
        assert states.next_state(state.name, "fail") == state.on_failure or (
            states.next_state(state.name, "error") == state.on_failure
        ), state.name


def test_wait_states_resume_and_fail() -> None:
    for state in states.STATES.values():
        if state.waits:
            assert states.next_state(state.name, "resume") is not None
            assert states.next_state(state.name, "fail") == state.on_failure


def test_the_states_the_issue_requires_exist() -> None:
    required = {
        "enroll", "verifying", "manageable", "inspecting", "inspect wait", "inspect failed",
        "cleaning", "clean wait", "clean failed", "available", "deploying", "wait call-back",
        "deploy failed", "active", "deleting", "error", "rescuing", "rescue wait", "rescue",
        "rescue failed", "unrescuing",
    }
    assert required <= set(states.STATES)


def test_verbs_map_to_events_in_the_table() -> None:
    events = {e for (_, e) in states.TRANSITIONS}
    for verb, event in states.VERB_EVENTS.items():
        assert event in events, verb


def test_leases_go_from_pending_to_terminated_only_by_the_table() -> None:
    path = [("start_lease", states.LEASE_STARTING), ("started", states.LEASE_ACTIVE),
            ("end_lease", states.LEASE_TERMINATING), ("ended", states.LEASE_TERMINATED)]
    status = states.LEASE_PENDING
    for event, expected in path:
        status = states.next_lease_status(status, event) or "refused"
        assert status == expected, event
    # A lease may end before it starts, never start after it ended.
    assert states.next_lease_status(states.LEASE_PENDING, "end_lease") == \
        states.LEASE_TERMINATING
    assert states.next_lease_status(states.LEASE_TERMINATED, "start_lease") is None
    assert states.next_lease_status(states.LEASE_ACTIVE, "start_lease") is None
    targets = set(states.LEASE_TRANSITIONS.values())
    assert targets <= {*states.LEASE_LIVE, states.LEASE_TERMINATED}
