"""Every row of states.TRANSITIONS happens for real.

Nodes on fake-hardware are driven through the services (set_provision_state,
the abort verb, agent heartbeats with the node's token) and the workflows
(fake_fail, fake_callback, the deadline reconciler).  The (from, event, to)
triples recorded in node_history must equal the table: a row no code path
reaches, or a transition the table does not declare, fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select

from barecloud import states
from barecloud.conductor.engine import Conductor
from barecloud.db.models import NodeHistory
from barecloud.errors import InvalidParameter
from barecloud.services.context import Runtime
from tests.conductor.helpers import (
    act,
    drive,
    enroll,
    expire_wait,
    heartbeat,
    history,
    make_available,
    recorded_transitions,
    set_driver_info,
    wait_state,
)

S = states
PW = {"rescue_password": "s3cret"}
Scenario = Callable[[Runtime], Awaitable[None]]


async def _expire(rt: Runtime, node: str, to: str) -> None:
    await expire_wait(rt.db, node)
    conductor = rt.local_conductor
    assert isinstance(conductor, Conductor)
    assert await conductor.reconcilers.check_deadlines() >= 1
    await wait_state(rt, node, to)


async def _resume(rt: Runtime, node: str, to: str) -> None:
    await heartbeat(rt, node)
    await wait_state(rt, node, to)


async def enrollment_and_inspection(rt: Runtime) -> None:
    n = await enroll(rt, fake_fail="validate")
    await drive(rt, n, "manage", S.ENROLL)                 # verifying -fail-> enroll
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "manage", S.MANAGEABLE)             # verifying -done-> manageable
    await set_driver_info(rt.db, n, fake_fail="inspect")
    await drive(rt, n, "inspect", S.INSPECTFAIL)           # inspecting -fail->
    await drive(rt, n, "manage", S.MANAGEABLE)             # inspect failed -manage->
    await drive(rt, n, "inspect", S.INSPECTFAIL)
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "inspect", S.MANAGEABLE)            # inspect failed -inspect->


async def inspection_waits(rt: Runtime) -> None:
    n = await enroll(rt, fake_callback=True)
    await drive(rt, n, "manage", S.MANAGEABLE)
    await drive(rt, n, "inspect", S.INSPECTWAIT)           # inspecting -wait->
    await _resume(rt, n, S.MANAGEABLE)                     # inspect wait -resume->
    await drive(rt, n, "inspect", S.INSPECTWAIT)
    await drive(rt, n, "abort", S.INSPECTFAIL)             # inspect wait -abort->
    await drive(rt, n, "inspect", S.INSPECTWAIT)
    await _expire(rt, n, S.INSPECTFAIL)                    # inspect wait -fail->


async def cleaning(rt: Runtime) -> None:
    n = await enroll(rt)
    await drive(rt, n, "manage", S.MANAGEABLE)
    await drive(rt, n, "provide", S.AVAILABLE)             # cleaning -done->
    await drive(rt, n, "manage", S.MANAGEABLE)             # available -manage->
    await drive(rt, n, "clean", S.MANAGEABLE)              # cleaning -manage->
    await set_driver_info(rt.db, n, fake_fail="clean")
    await drive(rt, n, "provide", S.CLEANFAIL)             # cleaning -fail->
    await drive(rt, n, "manage", S.MANAGEABLE)             # clean failed -manage->


async def cleaning_waits(rt: Runtime) -> None:
    n = await enroll(rt, fake_callback=True)
    await drive(rt, n, "manage", S.MANAGEABLE)
    await drive(rt, n, "provide", S.CLEANWAIT)             # cleaning -wait->
    await _resume(rt, n, S.AVAILABLE)                      # clean wait -resume->
    await drive(rt, n, "manage", S.MANAGEABLE)
    await drive(rt, n, "provide", S.CLEANWAIT)
    await drive(rt, n, "abort", S.CLEANFAIL)               # clean wait -abort->
    await drive(rt, n, "manage", S.MANAGEABLE)
    await drive(rt, n, "clean", S.CLEANWAIT)
    await _expire(rt, n, S.CLEANFAIL)                      # clean wait -fail->


async def deployment(rt: Runtime) -> None:
    n = await make_available(rt)
    await drive(rt, n, "active", S.ACTIVE)                 # available -deploy->, -done->
    await drive(rt, n, "rebuild", S.ACTIVE)                # active -rebuild->
    await set_driver_info(rt.db, n, fake_fail="deploy")
    await drive(rt, n, "active", S.DEPLOYFAIL)             # deploying -fail->
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "active", S.ACTIVE)                 # deploy failed -deploy->
    await set_driver_info(rt.db, n, fake_fail="deploy")
    await drive(rt, n, "rebuild", S.DEPLOYFAIL)
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "rebuild", S.ACTIVE)                # deploy failed -rebuild->
    await drive(rt, n, "deleted", S.AVAILABLE)             # active -delete->, deleting -clean->


async def teardown_failures(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_fail="deploy")
    await drive(rt, n, "active", S.DEPLOYFAIL)
    await drive(rt, n, "deleted", S.ERROR)                 # deploy failed -delete->, -fail->
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "rebuild", S.ACTIVE)                # error -rebuild->
    await set_driver_info(rt.db, n, fake_fail="deploy")
    await drive(rt, n, "undeploy", S.ERROR)
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "deleted", S.AVAILABLE)             # error -delete->


async def deployment_waits(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_callback=True)
    await drive(rt, n, "active", S.DEPLOYWAIT)             # deploying -wait->
    await _resume(rt, n, S.ACTIVE)                         # wait call-back -resume->
    await drive(rt, n, "deleted", S.CLEANWAIT)
    await _resume(rt, n, S.AVAILABLE)
    await drive(rt, n, "active", S.DEPLOYWAIT)
    await drive(rt, n, "abort", S.DEPLOYFAIL)              # wait call-back -abort->
    await drive(rt, n, "active", S.DEPLOYWAIT)
    await _expire(rt, n, S.DEPLOYFAIL)                     # wait call-back -fail->
    await drive(rt, n, "active", S.DEPLOYWAIT)
    await drive(rt, n, "deleted", S.CLEANWAIT)             # wait call-back -delete->
    await _resume(rt, n, S.AVAILABLE)


async def adoption(rt: Runtime) -> None:
    n = await enroll(rt)
    await drive(rt, n, "manage", S.MANAGEABLE)
    await set_driver_info(rt.db, n, fake_fail="validate")
    await drive(rt, n, "adopt", S.ADOPTFAIL)               # adopting -fail->
    await drive(rt, n, "adopt", S.ADOPTFAIL)               # adopt failed -adopt->
    await drive(rt, n, "manage", S.MANAGEABLE)             # adopt failed -manage->
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "adopt", S.ACTIVE)                  # manageable -adopt->, adopting -done->


async def rescue(rt: Runtime) -> None:
    n = await make_available(rt)
    await drive(rt, n, "active", S.ACTIVE)
    await drive(rt, n, "rescue", S.RESCUE, **PW)           # active -rescue->, rescuing -done->
    await drive(rt, n, "rescue", S.RESCUE, **PW)           # rescue -rescue->
    await drive(rt, n, "unrescue", S.ACTIVE)               # rescue -unrescue->, unrescuing -done->
    await set_driver_info(rt.db, n, fake_fail="rescue")
    await drive(rt, n, "rescue", S.RESCUEFAIL, **PW)       # rescuing -fail->
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "rescue", S.RESCUE, **PW)           # rescue failed -rescue->
    await set_driver_info(rt.db, n, fake_fail="rescue")
    await drive(rt, n, "unrescue", S.UNRESCUEFAIL)         # unrescuing -fail->
    await drive(rt, n, "unrescue", S.UNRESCUEFAIL)         # unrescue failed -unrescue->
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "rescue", S.RESCUE, **PW)           # unrescue failed -rescue->
    await drive(rt, n, "deleted", S.AVAILABLE)             # rescue -delete->


async def rescue_failures(rt: Runtime) -> None:
    n = await make_available(rt)
    await drive(rt, n, "active", S.ACTIVE)
    await set_driver_info(rt.db, n, fake_fail="rescue")
    await drive(rt, n, "rescue", S.RESCUEFAIL, **PW)
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "unrescue", S.ACTIVE)               # rescue failed -unrescue->
    await set_driver_info(rt.db, n, fake_fail="rescue")
    await drive(rt, n, "rescue", S.RESCUEFAIL, **PW)
    await drive(rt, n, "deleted", S.AVAILABLE)             # rescue failed -delete->
    await drive(rt, n, "active", S.ACTIVE)
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "rescue", S.RESCUE, **PW)
    await set_driver_info(rt.db, n, fake_fail="rescue")
    await drive(rt, n, "unrescue", S.UNRESCUEFAIL)
    await drive(rt, n, "deleted", S.AVAILABLE)             # unrescue failed -delete->


REBOOT = {"service_steps": [{"interface": "power", "step": "reboot"}]}
NO_SUCH_STEP = {"service_steps": [{"interface": "bios", "step": "apply_configuration"}]}


async def servicing(rt: Runtime) -> None:
    n = await make_available(rt)
    await drive(rt, n, "active", S.ACTIVE)
    await drive(rt, n, "service", S.ACTIVE, **REBOOT)          # servicing -done-> active
    await drive(rt, n, "service", S.SERVICEFAIL, **NO_SUCH_STEP)  # servicing -fail->
    await drive(rt, n, "abort", S.ACTIVE)                      # service failed -abort->
    await drive(rt, n, "service", S.SERVICEFAIL, **NO_SUCH_STEP)
    await drive(rt, n, "service", S.ACTIVE, **REBOOT)          # service failed -service->
    await drive(rt, n, "service", S.SERVICEFAIL, **NO_SUCH_STEP)
    await drive(rt, n, "rescue", S.RESCUE, **PW)               # service failed -rescue->
    await drive(rt, n, "unrescue", S.ACTIVE)
    await drive(rt, n, "service", S.SERVICEFAIL, **NO_SUCH_STEP)
    await drive(rt, n, "deleted", S.AVAILABLE)                 # service failed -delete->


async def rescue_waits(rt: Runtime) -> None:
    n = await make_available(rt)
    await drive(rt, n, "active", S.ACTIVE)
    await set_driver_info(rt.db, n, fake_callback=True)
    await drive(rt, n, "rescue", S.RESCUEWAIT, **PW)       # rescuing -wait->
    await _resume(rt, n, S.RESCUE)                         # rescue wait -resume->
    await drive(rt, n, "rescue", S.RESCUEWAIT, **PW)
    await drive(rt, n, "abort", S.RESCUEFAIL)              # rescue wait -abort->
    await drive(rt, n, "rescue", S.RESCUEWAIT, **PW)
    await _expire(rt, n, S.RESCUEFAIL)                     # rescue wait -fail->
    await drive(rt, n, "rescue", S.RESCUEWAIT, **PW)
    await drive(rt, n, "deleted", S.CLEANWAIT)             # rescue wait -delete->
    await _resume(rt, n, S.AVAILABLE)


SCENARIOS: tuple[Scenario, ...] = (
    enrollment_and_inspection, inspection_waits, cleaning, cleaning_waits, deployment,
    teardown_failures, deployment_waits, adoption, rescue, rescue_failures, rescue_waits,
    servicing,
)


async def test_every_row_of_the_transition_table_is_reached(rt: Runtime) -> None:
    await asyncio.gather(*(scenario(rt) for scenario in SCENARIOS))
    await act_sanity(rt)

    async with rt.db.session() as s:
        rows = list((await s.scalars(select(NodeHistory))).all())
    recorded = recorded_transitions(rows)
    table = {(src, event, dst) for (src, event), dst in states.TRANSITIONS.items()}
    missing = sorted(table - recorded)
    undeclared = sorted(recorded - table)
    assert not missing, f"rows of the table no code path reached: {missing}"
    assert not undeclared, f"transitions recorded that the table lacks: {undeclared}"
    assert recorded == table


async def act_sanity(rt: Runtime) -> None:
    """Invalid verbs are refused and leave no trace (so the sweep above is honest)."""
    n = await enroll(rt)
    for verb in ("active", "provide", "abort", "unrescue"):
        with pytest.raises(InvalidParameter, match="can not be performed"):
            await act(rt, n, verb)
    node = await wait_state(rt, n, S.ENROLL)
    assert node.reservation is None
    rows = await history(rt.db, n)
    assert [r.event for r in rows] == ["create: -> enroll"]
