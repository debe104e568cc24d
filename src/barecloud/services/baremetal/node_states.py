"""Requests that move a node: provision verbs, power, maintenance, boot device.

Each claims the node for the conductor that will do the work and wakes it; the
conductor carries the request out (conductor/workflows.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.conductor import batches, locks, wakeups
from barecloud.conductor.node_views import node_view
from barecloud.conductor.workflows import EVENT_WORKFLOWS
from barecloud.db import node_agents, sealed
from barecloud.db.models import Node
from barecloud.db.transitions import apply_event, fail_and_clear, note
from barecloud.drivers import agent as agent_deploy
from barecloud.drivers import hardware
from barecloud.errors import (
    InvalidParameter,
    NodeLocked,
)
from barecloud.services.baremetal import runbooks
from barecloud.services.baremetal.nodes import (
    NodeInMaintenance,
    NodeIsRetired,
    NodeProtected,
    find,
    find_for,
    get,
    show,
)
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images

NEEDS_ACTIVE_UNPROTECTED = {"rebuild", "delete"}
# Workflows that boot the agent, which then proves itself with a fresh token.
AGENT_WORKFLOWS = {"deploy", "clean", "undeploy", "rescue", "inspect"}


async def _holder(rt: Runtime, ctx: RequestContext, ident: str, rule: str) -> str:
    """The conductor that will do the work (looked up before the claiming transaction:
    on SQLite a nested session would wait for the connection its caller holds), once
    ``ctx`` may do ``rule``."""
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, rule, traits=False)
    return await rt.conductor_for(node.uuid, node.conductor_group)


async def _claim(rt: Runtime, s: AsyncSession, node: Node, holder: str) -> str:
    """Lock ``node`` for ``holder``, a live conductor (locks.ConductorGone if it is not:
    callers run under ``rt.with_live_conductor``, which asks the ring again)."""
    if node.reservation or not await locks.claim_for(
            s, node, holder, rt.settings.conductor_heartbeat_timeout):
        raise NodeLocked(node.uuid, node.reservation or "another conductor")
    await wakeups.notify(s, holder)
    return holder


async def set_provision_state(
    rt: Runtime, ctx: RequestContext, ident: str, verb: str, args: dict[str, Any],
    *, batch: str | None = None,
) -> None:
    """Start the work ``verb`` asks for; the conductor carries it out.  A deploy with
    ``batch`` is a member of that deploy batch (conductor/batches.py)."""
    await rt.with_live_conductor(
        lambda: _set_provision_state(rt, ctx, ident, verb, args, batch=batch))


async def _set_provision_state(
    rt: Runtime, ctx: RequestContext, ident: str, verb: str, args: dict[str, Any],
    *, batch: str | None,
) -> None:
    event = states.VERB_EVENTS[verb]
    _check_steps(event, args)
    holder = await _holder(rt, ctx, ident, "baremetal:node:set_provision_state")
    source: dict[str, Any] = {}
    if args.get("configdrive") is not None:
        if event not in ("deploy", "rebuild"):
            raise InvalidParameter("A config drive can only be given with the target "
                                   "'active' or 'rebuild'.")
        agent_deploy.check_configdrive(args["configdrive"])
    if event in ("deploy", "rebuild"):
        source = await image_source(rt, (await get(rt, ident)).instance_info or {}, ctx)
    async with rt.db.session() as s:
        node = await find(s, ident, traits=bool(args.get("runbook")))
        if node.reservation:
            # Busy first, as Ironic: the state check below would otherwise answer
            # "not allowed in deploying" to whoever lost a race for the lock.
            raise NodeLocked(node.uuid, node.reservation)
        if event == "deploy" and node.provision_state in (states.ACTIVE, states.ERROR):
            event = "rebuild"
        if node.maintenance and event in ("deploy", "rebuild", "provide", "inspect", "clean",
                                          "rescue", "unrescue", "adopt"):
            raise NodeInMaintenance(
                f"Cannot {verb} node {node.uuid}: the node is in maintenance mode."
            )
        if event == "provide" and node.retired:
            raise NodeIsRetired(f"The providing operation can't be performed on node "
                                f"{node.uuid} because it is retired.")
        if event in NEEDS_ACTIVE_UNPROTECTED and node.protected:
            raise NodeProtected(node.uuid)
        steps = args.get(f"{event}_steps") or []
        if args.get("runbook"):
            steps = await runbooks.steps_for(s, ctx, str(args["runbook"]), node)
        new = states.next_state(node.provision_state, event)
        if new is None:
            raise InvalidParameter(
                f"The requested action \"{verb}\" can not be performed on node "
                f"\"{node.uuid}\" while it is in state \"{node.provision_state}\"."
            )
        await _claim(rt, s, node, holder)
        if event == "abort":
            s.add(fail_and_clear(node, f"Aborted by request {ctx.request_id}", event="abort",
                                 conductor=holder, request_id=ctx.request_id, user=ctx.user))
            return
        s.add(apply_event(node, event, request_id=ctx.request_id, conductor=holder,
                          user=ctx.user))
        node.last_error = None
        if states.is_stable(new):
            node.reservation = None
            return
        workflow = EVENT_WORKFLOWS[event]
        if workflow in AGENT_WORKFLOWS:
            # The last run's agent is done; the run's ramdisk boot gets a new token
            # (conductor/agent_tokens.py).
            node.agent_token = None
            await node_agents.write(s, node.id, token_delivered=False)
        wf_args: dict[str, Any] = {}
        if event == "clean":
            wf_args = {"end_event": "manage", "clean_steps": steps}
        elif event == "service":
            wf_args = {"service_steps": steps}
        elif event == "provide" and node.automated_clean is False:
            wf_args = {"skip_erase": True}
        elif event in ("provide", "delete"):
            wf_args = {"erase_mode": rt.settings.automated_clean_erase}
        if event in ("deploy", "rebuild"):
            if source:
                node.instance_info = {**(node.instance_info or {}), **source}
            if args.get("configdrive") is not None:
                wf_args["configdrive"] = args["configdrive"]
            if args.get("deploy_steps"):
                wf_args["deploy_steps"] = args["deploy_steps"]
            if batch is not None:
                wf_args.update(await batches.enlist(s, batch, node))
        if event == "rescue":
            password = args.get("rescue_password")
            if not isinstance(password, str) or not password:
                raise InvalidParameter("A non-empty 'rescue_password' is required to rescue.")
            wf_args["rescue_password"] = password
        node.workflow = workflow
        node.workflow_step = 0
        node.workflow_args = wf_args
        node.workflow_deadline = None
    rt.wake()


def _check_steps(event: str, args: dict[str, Any]) -> None:
    """As Ironic's provision API: ``clean_steps`` / ``service_steps`` go with their
    verb only, a manual clean or a service needs steps or a runbook (1.92), and a
    runbook is not combined with explicit steps."""
    for kind in ("clean", "service"):
        if args.get(f"{kind}_steps") and event != kind:
            raise InvalidParameter(f'"{kind}_steps" is only valid when setting target '
                                   f'provision state to "{kind}"')
    runbook = args.get("runbook")
    if runbook:
        if event not in ("clean", "service"):
            raise InvalidParameter('"runbook" is only valid when setting target provision '
                                   'state to "clean" or "service"')
        if args.get(f"{event}_steps"):
            raise InvalidParameter(f'"runbook" and "{event}_steps" are mutually exclusive')
    elif event == "service" and not args.get("service_steps"):
        raise InvalidParameter('"service_steps" is required when setting target provision '
                               'state to "service"')
    for step in args.get("service_steps") or []:
        if not isinstance(step.get("interface"), str) or not isinstance(step.get("step"), str):
            raise InvalidParameter(f"Invalid service step {step}: it needs an interface and "
                                   "a step.")
        args = step.get("args") or {}
        if not isinstance(args, dict):
            raise InvalidParameter(f"Invalid service step {step}: args must be an object.")
        seconds = args.get("seconds", 0)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise InvalidParameter(f"Invalid service step {step}: seconds must be a number "
                                   "of seconds.")


async def image_source(rt: Runtime, info: dict[str, Any],
                       ctx: RequestContext | None = None) -> dict[str, Any]:
    """A Glance image named by ``image_source``, as the URL and hash the agent needs;
    one ``ctx`` can see (another project's private image is not found).

    An http(s) ``image_source`` is used as it is (its hash comes with it).
    """
    ref = info.get("image_source")
    if not ref or (isinstance(ref, str) and ref.startswith(("http://", "https://"))):
        return {}
    if not isinstance(ref, str):
        raise InvalidParameter("instance_info image_source must be a string.")
    return await images.deploy_source(rt, ref, ctx)


async def set_power_state(
    rt: Runtime, ctx: RequestContext, ident: str, target: str, timeout: int | None
) -> None:
    if target not in states.POWER_TARGETS:
        raise InvalidParameter(
            f"Invalid power state target {target!r}; valid: {', '.join(states.POWER_TARGETS)}"
        )
    await rt.with_live_conductor(lambda: _set_power_state(rt, ctx, ident, target, timeout))


async def _set_power_state(
    rt: Runtime, ctx: RequestContext, ident: str, target: str, timeout: int | None
) -> None:
    holder = await _holder(rt, ctx, ident, "baremetal:node:set_power_state")
    async with rt.db.session() as s:
        node = await find(s, ident, traits=False)
        await _claim(rt, s, node, holder)
        node.target_power_state = states.POWER_RESULT[target]
        node.last_error = None
        node.workflow = "power"
        node.workflow_step = 0
        node.workflow_args = {"target": target, "timeout": timeout}
        s.add(note(node, f"power action {target!r} requested", event_type="power",
                   request_id=ctx.request_id, conductor=holder))
    rt.wake()


async def set_maintenance(
    rt: Runtime, ctx: RequestContext, ident: str, on: bool, reason: str | None
) -> None:
    rule = "baremetal:node:set_maintenance" if on else "baremetal:node:clear_maintenance"
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, rule)
        node.maintenance = on
        node.maintenance_reason = reason if on else None
        if not on:
            node.fault = None
            node.power_sync_failures = 0
        s.add(note(node, f"maintenance {'on' if on else 'off'}"
                   + (f": {reason}" if on and reason else ""),
                   event_type="maintenance", request_id=ctx.request_id))


# --- traits -----------------------------------------------------------------


async def boot_device(rt: Runtime, ctx: RequestContext, ident: str) -> dict[str, Any]:
    node = await show(rt, ctx, ident, "baremetal:node:get_boot_device")
    view = node_view(node, sealed.keyring(rt.settings.data_dir), with_ports=False)
    hw = hardware.hardware_type(node.driver)
    iface = hardware.interface("management", hw.check("management", node.management_interface))
    result: dict[str, Any] = await iface.get_boot_device(view)
    return result


async def set_boot_device(rt: Runtime, ctx: RequestContext, ident: str, device: Any,
                          persistent: bool) -> None:
    from barecloud.drivers.base import BOOT_DEVICES

    if device not in BOOT_DEVICES:
        raise InvalidParameter(
            f"Invalid boot device {device!r}; valid: {', '.join(BOOT_DEVICES)}"
        )
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, "baremetal:node:set_boot_device")
        holder = rt.settings.conductor_name
        if node.reservation or not await locks.reserve(s, node.id, holder):
            raise NodeLocked(node.uuid, node.reservation or "another conductor")
        view = node_view(node, sealed.keyring(rt.settings.data_dir), with_ports=False)
    try:
        hw = hardware.hardware_type(node.driver)
        iface = hardware.interface(
            "management", hw.check("management", node.management_interface)
        )
        await iface.set_boot_device(view, device, persistent)
    finally:
        async with rt.db.session() as s:
            await locks.release(s, node.id, holder)
            s.add(note(node, f"boot device set to {device} (persistent={persistent})",
                       event_type="management", request_id=ctx.request_id))
