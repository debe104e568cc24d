"""Deploy batches in the conductor: the chain's order, its gate, retries, windows.

The machines are fake-hardware with the ``agent`` deploy interface: the test
plays each agent through the same service calls the real one makes over
HTTP (heartbeat with its callback URL, next command, report).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from barecloud import states
from barecloud.api.baremetal.render import deploy_batch, internal_info
from barecloud.conductor import image_urls
from barecloud.conductor.batches import chain_order
from barecloud.db.batch_models import DeployBatch, DeployBatchMember
from barecloud.db.models import Node, Port, utcnow
from barecloud.drivers import fake
from barecloud.services.baremetal import agent, nodes
from barecloud.services.baremetal import batches as deploy_batches
from barecloud.services.compute import actions, sync
from barecloud.services.context import Runtime
from barecloud.services.image import images
from tests.conductor.conftest import RuntimeFactory
from tests.conductor.helpers import (
    CTX,
    act,
    agent_token,
    describe,
    drive,
    expire_wait,
    heartbeat,
    load,
    make_available,
    rt_conductor,
    set_driver_info,
    wait_state,
)
from tests.services.compute import support as cs


def _node(name: str, *links: dict[str, Any], pxe: int = 0) -> tuple[DeployBatchMember, Node]:
    node = Node(uuid=f"uuid-{name}", name=name)
    node.ports = [Port(id=i, address=f"52:54:00:00:00:{i:02x}", pxe_enabled=i == pxe,
                       local_link_connection=link) for i, link in enumerate(links)]
    return DeployBatchMember(node_uuid=node.uuid), node


def test_hops_stay_inside_a_switch_and_ports_sort_naturally() -> None:
    members = [
        _node("a", {"switch_id": "sw-2", "port_id": "p1"}),
        _node("b", {"switch_id": "sw-1", "port_id": "p10"}),
        _node("c", {"switch_id": "sw-1", "port_id": "p9"}),
        _node("d", {"switch_id": "sw-2", "port_id": "p2"}),
        _node("e", {"switch_id": "sw-1", "port_id": "p2"}),
    ]
    assert [n.name for _, n in chain_order(members)] == ["e", "c", "b", "a", "d"]


def test_the_pxe_port_places_a_machine_and_no_link_sorts_by_name() -> None:
    members = [
        # Its PXE NIC (the second) is on sw-1; the first NIC's link does not count.
        _node("x", {"switch_id": "sw-9", "port_id": "p1"},
              {"switch_id": "sw-1", "port_id": "p3"}, pxe=1),
        _node("y", {"switch_id": "sw-1", "port_id": "p4"}),
        _node("m2"),
        _node("m1"),
    ]
    # No switch sorts first (""), by name; then sw-1 by port.
    assert [n.name for _, n in chain_order(members)] == ["m1", "m2", "x", "y"]


# --- the gate, the chain and retries, with the test playing every agent ----------------

IMAGE = {"image_source": "http://192.0.2.10/images/one.raw",
         "image_os_hash_value": "ab" * 64, "image_size": 4096}


async def _agent_nodes(rt: Runtime, count: int, **driver_info: Any) -> list[str]:
    """Available fake machines whose agent (deploy interface ``agent``) the test plays."""
    uuids = []
    for _ in range(count):
        node = await nodes.create(rt, CTX, {
            "driver": "fake-hardware", "name": f"n-{uuid.uuid4().hex[:8]}",
            "deploy_interface": "agent", "driver_info": driver_info}, initial=states.ENROLL)
        await drive(rt, node.uuid, "manage", states.MANAGEABLE)
        await set_driver_info(rt.db, node.uuid, fake_callback=True)
        uuids.append(node.uuid)
    return uuids


async def _available(rt: Runtime, uuids: list[str]) -> None:
    """Provide: cleaning's ramdisk is skipped (automated_clean off), so no agent here."""
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid.in_(uuids)).values(automated_clean=False))
    for n in uuids:
        await drive(rt, n, "provide", states.AVAILABLE)


async def _wait_for(rt: Runtime, n: str, check: Callable[[Node], bool], what: str,
                    timeout: float = 10) -> Node:
    deadline = time.monotonic() + timeout
    while True:
        node = await load(rt.db, n)
        if check(node):
            return node
        assert time.monotonic() < deadline, f"{what}: {await describe(rt.db, n)}"
        await asyncio.sleep(0.02)


def _at(step: str) -> Callable[[Node], bool]:
    """Waiting after ``step`` (the deploy_step the engine saved)."""
    return lambda node: (node.provision_state == states.DEPLOYWAIT
                         and (node.deploy_step or {}).get("step") == step
                         and node.reservation is None)


async def _command(rt: Runtime, n: str) -> dict[str, Any]:
    token = await agent_token(rt, n)
    command = await agent.next_command(rt, n, token, 0)
    assert command is not None, await describe(rt.db, n)
    return command


async def _report(rt: Runtime, n: str, command: dict[str, Any], status: str,
                  **fields: Any) -> None:
    token = await agent_token(rt, n)
    await agent.report(rt, CTX, n, command["id"], token, {"status": status, **fields})


async def _finish(rt: Runtime, n: str) -> None:
    """Play the agent to the end: succeed whatever comes (config drive, power off)."""
    node = await load(rt.db, n)
    while node.provision_state != states.ACTIVE:
        assert node.provision_state in (states.DEPLOYING, states.DEPLOYWAIT), (
            await describe(rt.db, n))
        if node.provision_state == states.DEPLOYWAIT and node.reservation is None:
            command = node.agent_info().get("agent_command") or {}
            if command.get("status") == "pending":
                await _report(rt, n, command, "succeeded", result={})
        await asyncio.sleep(0.02)
        node = await load(rt.db, n)


async def _batch(rt: Runtime, uuids: list[str], **body: Any) -> str:
    created = await deploy_batches.create(rt, CTX, {"nodes": uuids, "instance_info": IMAGE,
                                                    **body})
    return created.batch.uuid


async def _report_of(rt: Runtime, ref: str) -> dict[str, Any]:
    """The batch as the API shows it."""
    return deploy_batch(await deploy_batches.get(rt, CTX, ref))


def _written(command: dict[str, Any], size: int = 4096) -> dict[str, Any]:
    ups = command["params"].get("upstreams")
    url = ups[0].split("/chain/")[0] if ups else IMAGE["image_source"]
    return {"bytes": size, "seconds": 0.5, "sources": [{"url": url, "from": 0, "to": size}]}


def _sent(name: str) -> Callable[[Node], bool]:
    return lambda node: node.agent_info().get(
        "agent_command", {}).get("name") == name


async def _chain_started(rt: Runtime, count: int) -> tuple[list[str], str]:
    """A chain batch of ``count`` machines whose agents all called back: every one has
    its write_image.  The machines, and the batch."""
    uuids = await _agent_nodes(rt, count)
    await _available(rt, uuids)
    ref = await _batch(rt, uuids, delivery="chain")
    for i, n in enumerate(uuids):
        await _wait_for(rt, n, _at("agent up"), "agent up")
        await heartbeat(rt, n, url=f"http://192.0.2.{i + 1}:9999")
    for n in uuids:
        await _wait_for(rt, n, _sent("write_image"), "write_image sent")
    return uuids, ref


async def test_the_gate_waits_for_every_member_then_chains_them(rt: Runtime) -> None:
    uuids = await _agent_nodes(rt, 3)
    await _available(rt, uuids)
    ref = await _batch(rt, uuids, delivery="chain")
    for n in uuids:  # every machine boots its agent, which must call back first
        await _wait_for(rt, n, _at("agent up"), "agent up")
    for i, n in enumerate(uuids[:2]):
        await heartbeat(rt, n, url=f"http://192.0.2.{i + 1}:9999")
        await _wait_for(rt, n, _at("write image"), "at the gate")
    # At the gate, heartbeats do not move a member on, and nothing is sent yet.
    await heartbeat(rt, uuids[0], url="http://192.0.2.1:9999")
    await asyncio.sleep(0.2)
    first = await load(rt.db, uuids[0])
    assert first.provision_state == states.DEPLOYWAIT
    assert "agent_command" not in first.agent_info() or (
        first.agent_info()["agent_command"]["name"] != "write_image")
    report = await _report_of(rt, ref)
    assert (report["state"], [m["state"] for m in report["members"]]) == (
        "gathering", ["ready", "ready", "waiting"])
    # The last one opens the gate: three write_image commands, each from the one before.
    await heartbeat(rt, uuids[2], url="http://192.0.2.3:9999")
    commands = {}
    for n in uuids:
        await _wait_for(rt, n, _sent("write_image"), "write_image sent")
        commands[n] = await _command(rt, n)
    report = await _report_of(rt, ref)
    order = [m["node_uuid"] for m in report["members"]]
    assert sorted(order) == sorted(uuids) and report["state"] == "broadcasting"
    params = [commands[n]["params"] for n in order]
    assert [len(p["upstreams"]) for p in params] == [0, 1, 2]
    tokens = [p["serve"]["token"] for p in params[:2]]
    assert len(set(tokens)) == 2 and "serve" not in params[2]  # the tail serves nobody
    hosts = {n: f"http://192.0.2.{uuids.index(n) + 1}:9999" for n in uuids}
    assert params[2]["upstreams"] == [f"{hosts[order[1]]}/chain/{tokens[1]}",
                                      f"{hosts[order[0]]}/chain/{tokens[0]}"]
    assert all(p["url"] == IMAGE["image_source"] and p["size"] == 4096 for p in params)
    for n in order:
        await _report(rt, n, commands[n], "running", progress={"bytes": 1, "total": 4096})
        await _report(rt, n, commands[n], "succeeded", result=_written(commands[n]))
    for n in uuids:
        await _finish(rt, n)
    report = await _report_of(rt, ref)
    assert (report["state"], report["ok"], report["ko"]) == ("done", 3, 0)
    assert [m["position"] for m in report["members"]] == [0, 1, 2]
    assert report["members"][1]["sources"][0]["url"] == hosts[order[0]]
    assert report["image_phase_seconds"] is not None
    assert "chain_token" not in str(report) and tokens[0] not in str(report)


async def _glance_image(rt: Runtime, data: bytes) -> str:
    image = await images.create(rt, CTX, {"name": "batch-image", "disk_format": "raw",
                                          "container_format": "bare"})

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await images.upload(rt, CTX, image.uuid, chunks())
    return image.uuid


async def _undeploy(rt: Runtime, n: str) -> None:
    """Undeploy, playing the agent of the cleaning (erase, power off)."""
    await act(rt, n, "deleted")
    node = await load(rt.db, n)
    while node.provision_state != states.AVAILABLE:
        command = node.agent_info().get("agent_command") or {}
        if (node.provision_state == states.CLEANWAIT and node.reservation is None
                and command.get("status") == "pending"):
            await _report(rt, n, command, "succeeded", result={})
        await asyncio.sleep(0.02)
        node = await load(rt.db, n)


def _grant(rt: Runtime, url: str) -> image_urls.Grant:
    """What a signed image URL allows, as /boot/images checks it."""
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    return image_urls.check(image_urls.load_key(rt.settings.data_dir),
                            parts.path.rsplit("/", 1)[1], query.get("node"),
                            query.get("expires"), query.get("signature"))


async def test_image_urls_are_signed_per_node_and_chain_tokens_are_per_write(
        rt: Runtime) -> None:
    """Each member's image server URL is signed for it alone; each write serves under a
    token of its own, never one of an earlier batch."""
    image_id = await _glance_image(rt, b"i" * 4096)
    uuids = await _agent_nodes(rt, 2)
    await _available(rt, uuids)
    tokens: list[str] = []
    for round_ in range(2):
        await _batch(rt, uuids, delivery="chain", instance_info={"image_source": image_id})
        for i, n in enumerate(uuids):
            await _wait_for(rt, n, _at("agent up"), "agent up")
            await heartbeat(rt, n, url=f"http://192.0.2.{i + 1}:9999")
        commands = {}
        for n in uuids:
            await _wait_for(rt, n, _sent("write_image"), "write_image sent")
            commands[n] = await _command(rt, n)
        for n, command in commands.items():
            grant = _grant(rt, command["params"]["url"])
            assert (grant.image_id, grant.node_uuid) == (image_id, n)
            assert grant.expires >= time.time() + rt.settings.deploy_callback_timeout
            tokens += [command["params"]["serve"]["token"]] if "serve" in command["params"] \
                else [u.rsplit("/chain/", 1)[1] for u in command["params"]["upstreams"]]
            # Stored on the node for the agent, masked in the node's API view.
            shown = internal_info((await load(rt.db, n)).agent_info())
            assert shown["agent_command"]["params"]["url"].endswith(f"{image_id}?******")
        for n, command in commands.items():
            await _report(rt, n, command, "succeeded", result=_written(command))
            await _finish(rt, n)
        if round_ == 0:
            for n in uuids:
                await _undeploy(rt, n)
    # A serving token, then the same one as its successor's upstream: per batch, new.
    assert tokens[0] == tokens[1] and tokens[2] == tokens[3] and tokens[0] != tokens[2]


async def test_a_failed_member_is_retried_alone_and_a_dead_one_after_a_reboot(
        rt: Runtime) -> None:
    uuids, ref = await _chain_started(rt, 3)
    commands = {n: await _command(rt, n) for n in uuids}
    failing, dead, fine = uuids
    await _report(rt, fine, commands[fine], "succeeded", result=_written(commands[fine]))
    # One reports a failure: it writes again at once, alone, from the image server.
    await _report(rt, failing, commands[failing], "failed", error="checksum mismatch")
    await _wait_for(rt, failing, lambda node: node.agent_info().get(
        "agent_command", {}).get("id") not in (None, commands[failing]["id"]), "retry sent")
    again = await _command(rt, failing)
    assert again["name"] == "write_image" and "upstreams" not in again["params"]
    await _report(rt, failing, again, "succeeded", result=_written(again))
    # One goes silent: past its deadline it is rebooted and writes alone too.
    await _report(rt, dead, commands[dead], "running", progress={"bytes": 1, "total": 4096})
    dead_token = await agent_token(rt, dead)
    await expire_wait(rt.db, dead)
    await rt_conductor(rt).reconcilers.check_deadlines()
    await _wait_for(rt, dead, lambda node: node.agent_info().get(
        "agent_command", {}).get("id") not in (None, commands[dead]["id"]), "reboot, retry")
    history = await describe(rt.db, dead)
    assert "retrying alone over http after a reboot" in history
    assert "power reboot" in history
    # The reboot prepared the ramdisk again: a new token, and the last boot's is dead.
    with pytest.raises(agent.Unauthorized):
        await agent.next_command(rt, dead, dead_token, 0)
    assert await agent_token(rt, dead) != dead_token
    retry = await _command(rt, dead)
    assert "upstreams" not in retry["params"]
    await _report(rt, dead, retry, "succeeded", result=_written(retry))
    for n in uuids:
        await _finish(rt, n)
    report = await _report_of(rt, ref)
    rows = {m["node_uuid"]: m for m in report["members"]}
    assert (report["state"], report["ok"], report["ko"]) == ("done", 3, 0)
    assert rows[failing]["retried"] and rows[failing]["delivery"] == "http"
    assert rows[failing]["failures"][0]["error"] == "checksum mismatch"
    assert "Timeout reached" in rows[dead]["failures"][0]["error"]
    assert not rows[fine]["retried"] and rows[fine]["failures"] == []


async def test_out_of_retries_is_ko_and_the_batch_still_ends(make_runtime: RuntimeFactory
                                                             ) -> None:
    async with make_runtime(deploy_batch_retries=0) as rt:
        uuids, ref = await _chain_started(rt, 2)
        bad, good = uuids
        await _report(rt, bad, await _command(rt, bad), "failed", error="disk on fire")
        command = await _command(rt, good)
        await _report(rt, good, command, "succeeded", result=_written(command))
        await _finish(rt, good)
        await _wait_for(rt, bad, lambda node: node.provision_state == states.DEPLOYFAIL,
                        "deploy failed")
        report = await _report_of(rt, ref)
        rows = {m["node_uuid"]: m for m in report["members"]}
        assert (report["state"], report["ok"], report["ko"]) == ("done", 1, 1)
        assert rows[bad]["state"] == "ko" and "disk on fire" in rows[bad]["error"]


async def test_the_gate_deadline_starts_the_chain_without_the_missing(rt: Runtime) -> None:
    uuids = await _agent_nodes(rt, 3)
    await _available(rt, uuids)
    ref = await _batch(rt, uuids, delivery="chain")
    late = uuids[2]
    for i, n in enumerate(uuids[:2]):
        await _wait_for(rt, n, _at("agent up"), "agent up")
        await heartbeat(rt, n, url=f"http://192.0.2.{i + 1}:9999")
        await _wait_for(rt, n, _at("write image"), "at the gate")
    async with rt.db.session() as s:
        await s.execute(update(DeployBatch).where(DeployBatch.uuid == ref).values(
            gate_deadline=utcnow() - dt.timedelta(seconds=1)))
    await rt_conductor(rt).reconcilers.check_batches()
    for n in uuids[:2]:
        assert (await _command(rt, n))["name"] == "write_image"
    # The late machine does not join the running chain: it writes alone.
    await _wait_for(rt, late, _at("agent up"), "agent up")
    await heartbeat(rt, late, url="http://192.0.2.3:9999")
    await _wait_for(rt, late, _sent("write_image"), "write_image sent")
    assert "upstreams" not in (await _command(rt, late))["params"]
    report = await _report_of(rt, ref)
    rows = {m["node_uuid"]: m for m in report["members"]}
    assert rows[late]["delivery"] == "http" and rows[late]["position"] is None
    assert {rows[n]["position"] for n in uuids[:2]} == {0, 1}


async def test_power_actions_of_a_batch_go_in_windows(make_runtime: RuntimeFactory) -> None:
    """At most W machines in a power action at once; the rest queue, none is refused."""
    async with make_runtime(max_concurrent_power_actions=2) as rt:
        uuids = list(await asyncio.gather(*(make_available(rt) for _ in range(6))))
        for n in uuids:
            await set_driver_info(rt.db, n, fake_delay=0.05)
        fake.POWER_ACTIONS.peak = 0
        ref = await _batch(rt, uuids, delivery="http")
        for n in uuids:
            await wait_state(rt, n, states.ACTIVE, timeout=30)
        assert fake.POWER_ACTIONS.peak == 2
        report = await _report_of(rt, ref)
        assert (report["state"], report["ok"]) == ("done", 6)


async def test_only_a_chain_member_is_held_to_the_progress_deadline(rt: Runtime) -> None:
    """Silence in a chain means a dead machine; a shared download may just be starved."""
    chain, _ = await _chain_started(rt, 2)
    plain = await _agent_nodes(rt, 1)
    await _available(rt, plain)
    await _batch(rt, plain, delivery="http")
    await _wait_for(rt, plain[0], _sent("write_image"), "write_image sent")
    for n, timeout in ((chain[0], rt.settings.deploy_batch_progress_timeout),
                       (plain[0], rt.settings.deploy_callback_timeout)):
        await _report(rt, n, await _command(rt, n), "running",
                      progress={"bytes": 1, "total": 4096})
        deadline = (await load(rt.db, n)).workflow_deadline
        assert deadline is not None
        left = (deadline - utcnow()).total_seconds()
        assert timeout - 5 < left <= timeout, (n, left, timeout)


# --- a member that fails for good (issue 15, item 6) -----------------------------------


async def _written_within_15_s(rt: Runtime, node_uuid: str,
                               why: Callable[[], Awaitable[str]]) -> None:
    """Run the compute reconciler, playing the node's agent (its call-back), until the
    node is sent ``write_image``; fail with ``await why()`` after 15 s."""
    started = time.monotonic()
    heard = False
    while True:
        await sync.sync_once(rt, "test")
        node = await load(rt.db, node_uuid)
        if not heard and _at("agent up")(node):
            await heartbeat(rt, node_uuid, url="http://192.0.2.1:9999")
            heard = True
        if _sent("write_image")(node):
            return
        assert time.monotonic() - started < 15, await why()
        await asyncio.sleep(0.05)


async def test_a_server_that_fails_for_good_releases_the_gate_at_once(rt: Runtime) -> None:
    """``server create --network net1 --min 2``: one server's machine has no cabled NIC,
    so that server runs out of reschedules; the other, at the gate, must not wait
    for the 600 s deadline."""
    cabled, bare = await _agent_nodes(rt, 2)
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid.in_([cabled, bare]))
                        .values(resource_class="baremetal"))
        node = await s.scalar(select(Node).where(Node.uuid == cabled))
        assert node is not None
        s.add(Port(address="52:54:00:15:06:01", node_id=node.id, pxe_enabled=True, extra={},
                   internal_info={}, local_link_connection={
                       "switch_info": "tor", "port_id": "p1", "switch_id": "00:00:00:00:00:01"}))
    await _available(rt, [cabled, bare])
    net = await cs.network(rt, "net1", "10.15.6.0/24")
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    await cs.unlimited(rt)
    await cs.create(rt, image_id, flavor_id, "pair", min_count=2, networks=[{"uuid": net}])
    async def why() -> str:
        return ("the gate still waits for a server that failed for good: "
                f"{[(r.name, r.vm_state, r.fault) for r in await cs.all_servers(rt.db)]}; "
                f"{await describe(rt.db, cabled)}")

    await _written_within_15_s(rt, cabled, why)
    rows = {r.node_uuid: r for r in await cs.all_servers(rt.db)}
    failed = [r for r in rows.values() if r.vm_state == "error"]
    assert len(failed) == 1 and failed[0].attempts[0]["node"] == bare
    assert "cabled" in failed[0].attempts[0]["error"]
    assert (await _command(rt, cabled))["name"] == "write_image"


async def test_a_server_deleted_before_it_was_placed_releases_the_gate(rt: Runtime) -> None:
    """``--min 2``, and one of the two deleted at once: the other writes without
    waiting for the gate's deadline."""
    [machine] = await _agent_nodes(rt, 1)
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == machine)
                        .values(resource_class="baremetal"))
    await _available(rt, [machine])
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    await cs.unlimited(rt)
    first, second = await cs.create(rt, image_id, flavor_id, "pair", min_count=2)
    await actions.delete(rt, cs.ADMIN, second)
    async def why() -> str:
        return f"the gate waits for a deleted server: {await describe(rt.db, machine)}"

    await _written_within_15_s(rt, machine, why)
    assert (await cs.server(rt.db, first)).node_uuid == machine
