"""The conductor: runs workflows of the nodes it holds locks on, and reconciles.

Work is found in the database (nodes reserved by this conductor with a
workflow set), so an API in another process only has to write the row; an
in-process API calls :meth:`Conductor.wake` to skip the poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import lazyload, selectinload

from barecloud import states
from barecloud.conductor import batches, image_urls, metrics, recovery, wakeups
from barecloud.conductor.liveness import Member
from barecloud.conductor.mailbox import MAILBOX
from barecloud.conductor.node_views import node_view
from barecloud.conductor.progress import ProgressWriter
from barecloud.conductor.reconcilers import Reconcilers
from barecloud.conductor.retries import run_step
from barecloud.conductor.segments import OperatorSegments
from barecloud.conductor.wakeups import Listener
from barecloud.conductor.workflows import STEP_FIELDS, WORKFLOWS, HttpWrite, StepContext
from barecloud.config import Settings
from barecloud.db import node_agents, sealed
from barecloud.db.models import Node, utcnow
from barecloud.db.session import Database
from barecloud.db.transitions import apply_event, clear_work, fail_and_clear, note
from barecloud.drivers import hardware, ipmi, ipxe
from barecloud.drivers.base import AgentCommand, NodeView, StepResult
from barecloud.drivers.switches import registry as switch_registry
from barecloud.errors import BarecloudError, NodeChanged

log = logging.getLogger(__name__)

# Workflows that take a place in the deploy window (Kadeploy's "window").
WINDOWED = frozenset({"deploy"})


def _moves_ports(view: NodeView) -> bool:
    """Whether the node's network interface needs the operator's segments."""
    impl = view.driver_internal_info["interfaces"].get("network")
    return hardware.hardware_type(view.driver).check("network", impl) == "neutron"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, BarecloudError):
        return exc.message
    return f"Unexpected error: {type(exc).__name__}: {exc}"


class Conductor:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.name = settings.conductor_name
        ipxe.configure(settings.data_dir, settings.base_url)  # where boot files go
        switch_registry.configure(settings)  # the switches the network interface drives
        ipmi.configure(settings.ipmi_keepalive_interval, settings.ipmi_session_max_idle)
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self.deploy_window = asyncio.Semaphore(settings.max_concurrent_deploys)
        self.power_window = asyncio.Semaphore(settings.max_concurrent_power_actions)
        self.workflow_slots = asyncio.Semaphore(settings.max_concurrent_workflows)
        self.segments = OperatorSegments(db, settings)
        self.reconcilers = Reconcilers(self)
        self.progress = ProgressWriter(db, self.name)
        self.listener = Listener(db.url, self.name, self.wake)
        # Heartbeat and lease (conductor/liveness.py): losing them is stepping down.
        self.member = Member(db, settings, self.name, group=settings.conductor_group,
                             on_lost=self._lost)
        self._stepping_down: asyncio.Task[None] | None = None
        self.stopping = False

    # --- life cycle ------------------------------------------------------
    async def start(self) -> None:
        """Register (recovery.NameTaken if a live process has this name), then work."""
        await self.member.register()
        await self.member.start()
        await self._begin()
        await self.listener.start()

    async def _begin(self) -> None:
        """What a registered incarnation does first: fail what an earlier one left."""
        recovered = await recovery.recover_own(self.db, self.name)
        if recovered:
            log.warning("conductor %s: recovered %d node(s) left mid-work", self.name, recovered)
        self._loops = [
            asyncio.create_task(self._work_loop(), name="work"),
            *self.reconcilers.start(),
        ]

    async def _halt(self) -> None:
        """Cancel and await the loops and every workflow; drop unsaved progress."""
        pending = {*self._loops, *self._running.values()}
        self._loops = []
        while pending:
            # Again and again: asyncio.wait_for (3.11) may swallow a cancellation.
            for t in pending:
                t.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.1)
        await self.progress.stop()

    async def stop(self) -> None:
        """Graceful stop: offline first (the API stops handing work here), workflows
        cancelled, then each node held with a workflow handed to the conductor the
        ring names without this one, resuming at its saved step (failed if there is
        none); no lock of this conductor remains."""
        self.stopping = True
        if self._stepping_down is not None:
            self._stepping_down.cancel()
            await asyncio.gather(self._stepping_down, return_exceptions=True)
        await self.member.stop()
        await recovery.unregister(self.db, self.name, self.member.incarnation)
        await self._halt()
        await self.listener.stop()
        await hardware.close_connections()  # log out of BMCs: they allow few sessions
        if not self.member.lost:  # lost: the peers have taken the nodes over already
            handed, abandoned = await recovery.hand_over(
                self.db, self.name, self.settings.conductor_heartbeat_timeout)
            if handed or abandoned:
                log.warning("conductor %s: handed %d node(s) over, abandoned %d", self.name,
                            handed, abandoned)
        await self.member.close()

    def _lost(self) -> None:
        if not self.stopping and self._stepping_down is None:
            self._stepping_down = asyncio.create_task(self._step_down(), name="step-down")

    async def _step_down(self) -> None:
        """The peers declared this conductor dead and may be running its nodes: stop
        every workflow and loop without touching a node, then start again as a new
        incarnation (which finds nothing of its own: the peers released it)."""
        log.error("conductor %s: stepping down", self.name)
        try:
            await self._halt()
            while not self.stopping:
                try:
                    await self.member.register()
                    break
                except Exception as exc:
                    log.error("conductor %s: cannot register again: %s", self.name, exc)
                    await asyncio.sleep(self.settings.conductor_heartbeat_interval)
            if not self.stopping:
                await self._begin()
                log.warning("conductor %s: back as incarnation %s", self.name,
                            self.member.incarnation)
        finally:
            self._stepping_down = None

    def wake(self) -> None:
        self._wake.set()

    async def idle(self) -> None:
        """Wait until no workflow runs here (for tests and benchmarks)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    # --- finding work ----------------------------------------------------
    async def _work_loop(self) -> None:
        while not self.stopping:
            try:
                await self._pick_up()
            except Exception:
                log.exception("conductor %s: picking up work failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.work_poll_interval)
            self._wake.clear()

    async def _pick_up(self) -> None:
        async with self.db.session() as s:
            ids = (
                await s.scalars(
                    select(Node.id).where(
                        Node.reservation == self.name, Node.workflow.is_not(None)
                    )
                )
            ).all()
        for node_id in ids:
            if node_id not in self._running:
                self._running[node_id] = asyncio.create_task(self._run(node_id))

    # --- running a workflow ----------------------------------------------
    async def power_action(self, node: NodeView, target: str) -> str:
        async with self.power_window:
            await self.member.ensure()  # never drive a BMC past the lease
            iface = hardware.interface(
                "power",
                hardware.hardware_type(node.driver).check(
                    "power", node.driver_internal_info.get("interfaces", {}).get("power")
                ),
            )
            result: str = await iface.set_power_state(node, target, None)
            return result

    async def _join(self, view: NodeView, alone: HttpWrite) -> StepResult:
        return await batches.join(self.db, self.settings, view, alone)

    @contextlib.asynccontextmanager
    async def _window(self, workflow: str) -> AsyncIterator[None]:
        async with self.workflow_slots:
            if workflow in WINDOWED:
                async with self.deploy_window:
                    yield
            else:
                yield

    async def _run(self, node_id: int) -> None:
        running: tuple[str, str] | None = None  # (workflow, step) for the failure metric
        try:
            async with self.db.session() as s:
                node = await s.scalar(
                    select(Node)
                    .options(selectinload(Node.ports), lazyload(Node.traits))
                    .where(Node.id == node_id)
                )
                if node is None or node.reservation != self.name or node.workflow is None:
                    return
                view = node_view(node, sealed.keyring(self.settings.data_dir))
                workflow, first = node.workflow, node.workflow_step
                args = dict(node.workflow_args or {})
            if _moves_ports(view):
                view = replace(view, networks=await self.segments.get())
            steps = WORKFLOWS[workflow]
            async with self._window(workflow):
                for index in range(first, len(steps)):
                    await self.member.ensure()  # NotLive: the node is the peers' now
                    step = steps[index]
                    if step.event is not None:
                        if not await self._transition(node_id, step.event, index + 1):
                            return
                        continue
                    assert step.run is not None
                    ctx = StepContext(view, args, self.power_action, join=self._join)
                    if step.skip is not None and step.skip(ctx):
                        continue
                    started = time.monotonic()
                    running = (workflow, step.name)
                    result = await run_step(step.run, ctx, self.settings.step_retry_timeout,
                                            before_retry=self.member.ensure)
                    await self.member.ensure()
                    took = time.monotonic() - started
                    metrics.step_done(workflow, step.name, took)
                    running = None
                    if not await self._save_step(
                        node_id, workflow, index, step.name, ctx, took, result
                    ):
                        return
                    if result is not None:
                        MAILBOX.notify(view.uuid)
                        return
                    view = ctx.node
            await self.member.ensure()
            await self._finish(node_id, workflow, args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, BarecloudError):
                log.exception("node %s: workflow failed unexpectedly", node_id)
            if running is not None:
                metrics.step_failed(*running)
            await self._fail(node_id, _error_text(exc))
        finally:
            self._running.pop(node_id, None)
            self.wake()

    async def _owned(self, s: Any, node_id: int) -> Node | None:
        """The node, locked in the database until the commit, if it is still ours.

        ``FOR UPDATE`` under ``reservation = me`` makes each write here fenced
        twice: a conductor whose lock was taken from it (declared dead) finds
        nothing, and the ORM's UPDATE repeats the version it read.  Traits and
        the agent row are not a workflow's business: not loading them saves
        queries.
        """
        node: Node | None = await s.scalar(
            select(Node)
            .options(lazyload(Node.traits), lazyload(Node.agent))
            .where(Node.id == node_id, Node.reservation == self.name)
            .with_for_update(of=Node)
        )
        return node

    async def _transition(self, node_id: int, event: str, next_step: int) -> bool:
        async with self.db.session() as s:
            node = await self._owned(s, node_id)
            if node is None:
                return False
            s.add(apply_event(node, event, conductor=self.name))
            node.workflow_step = next_step
        return True

    async def _save_step(
        self, node_id: int, workflow: str, index: int, name: str, ctx: StepContext,
        took: float, result: StepResult,
    ) -> bool:
        wait = result is not None
        if not wait and not ctx.writes:
            return await self._save_progress(node_id, workflow, index, name, ctx, took)
        async with self.db.session() as s:
            node = await self._owned(s, node_id)
            if node is None:
                return False
            for column, value in ctx.updates.items():
                setattr(node, column, value)
            for write in ctx.writes:
                await write(s, node)
            field = STEP_FIELDS.get(workflow)
            if field:
                setattr(node, field, {"step": name, "index": index, "interface": workflow})
            node.workflow_step = index + 1
            done = "sent to the agent" if isinstance(result, AgentCommand) else "done"
            s.add(note(node, f"{workflow} step {name}: {done}", event_type=workflow,
                       conductor=self.name, duration=round(took, 6)))
            if isinstance(result, AgentCommand):
                result = image_urls.sign_command(self.settings, node.uuid,
                                                 node.instance_info or {}, result)
                await node_agents.issue(s, node.id, result.issued(utcnow().isoformat()))
                await wakeups.notify_command(s, node.uuid)
            if wait:
                what = f"the agent ({result.name})" if isinstance(result, AgentCommand) else (
                    "the machine")
                s.add(apply_event(node, "wait", conductor=self.name,
                                  message=f"waiting for {what} after {name}"))
                deadline = self.settings.wait_timeout(node.provision_state)
                node.workflow_deadline = utcnow() + dt.timedelta(seconds=deadline)
                node.reservation = None
        return True

    async def _save_progress(
        self, node_id: int, workflow: str, index: int, name: str, ctx: StepContext,
        took: float,
    ) -> bool:
        """Save a step that leaves the provision state alone: the hot path.

        It runs once per step of every node at work, so it decides how many
        machines a conductor can drive: see :mod:`barecloud.conductor.progress`.
        """
        values: dict[str, Any] = dict(ctx.updates)
        field = STEP_FIELDS.get(workflow)
        if field:
            values[field] = {"step": name, "index": index, "interface": workflow}
        values["workflow_step"] = index + 1
        return await self.progress.save(node_id, values, f"{workflow} step {name}: done",
                                        workflow, round(took, 6))

    async def _finish(self, node_id: int, workflow: str, args: dict[str, Any]) -> None:
        async with self.db.session() as s:
            node = await self._owned(s, node_id)
            if node is None:
                return
            if workflow == "power":
                node.target_power_state = None
                node.expected_power_state = node.power_state
                s.add(note(node, f"power state set to {node.power_state}", event_type="power",
                           conductor=self.name))
            else:
                end = str(args.get("end_event", "done"))
                if end == "done" and node.retired and node.provision_state == states.CLEANING:
                    end = "manage"  # as Ironic: a retired node's cleaning ends manageable
                s.add(apply_event(node, end, conductor=self.name))
                if node.provision_state == states.ACTIVE:
                    node.expected_power_state = node.power_state
                node.deploy_step = {}
                node.clean_step = {}
                node.service_step = {}
            clear_work(node)

    async def _fail(self, node_id: int, message: str) -> None:
        try:
            async with self.db.session() as s:
                node = await self._owned(s, node_id)
                if node is None:
                    return
                s.add(fail_and_clear(node, message, conductor=self.name))
        except NodeChanged:
            # Changed under the lock this conductor believed it held: it is not
            # ours any more (only a lock taken from us can do that).
            log.warning("node %s changed under %s's lock: left to its new writer",
                        node_id, self.name)
