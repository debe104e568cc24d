"""Deploy batches: one image to a list of nodes (operators), and their report.

``POST /baremetal/v1/barecloud-deploy-batches`` is the operator's way to
reimage many machines at once (Kadeploy's ``kadeploy3 -f nodes -e env``);
``server create --min-count N`` makes a batch of its servers too
(services/compute/servers.py).  The conductor runs the batch (conductor/batches.py);
this module checks the request, starts the deploys and reads the report
(api/baremetal/render.py renders it).
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from barecloud import states
from barecloud.conductor import batches
from barecloud.db.batch_models import DeployBatch, DeployBatchMember
from barecloud.db.models import Node, bump
from barecloud.errors import BarecloudError, Conflict, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import node_states, nodes
from barecloud.services.context import RequestContext, Runtime

RULE = "baremetal:node:set_provision_state"
KEYS = ("nodes", "image_source", "delivery", "configdrive", "instance_info")
LIST_LIMIT = 100


async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any]) -> Report:
    """``body`` as declared (schemas.DEPLOY_BATCH); the rest is checked here."""
    policy.authorize(ctx, RULE)
    unknown = sorted(set(body) - set(KEYS))
    if unknown:
        raise InvalidParameter(f"Unknown field(s) {', '.join(unknown)}; a deploy batch takes "
                               f"{', '.join(KEYS)}.")
    idents: list[str] = body["nodes"]
    delivery = body.get("delivery") or rt.settings.deploy_batch_delivery
    if delivery not in batches.DELIVERIES:
        raise InvalidParameter(f"'delivery' must be one of {', '.join(batches.DELIVERIES)}, "
                               f"not {delivery!r}.")
    extra = body.get("instance_info") or {}
    source = body.get("image_source") or extra.get("image_source")
    if not isinstance(source, str) or not source:
        raise InvalidParameter("'image_source' (a Glance image id or an http(s) URL) is "
                               "required.")
    info = {**extra, "image_source": source}
    if source.startswith(("http://", "https://")) and not (
            info.get("image_os_hash_value") or info.get("image_checksum")):
        raise InvalidParameter("An http(s) image_source needs instance_info "
                               "image_os_hash_value (or image_checksum), so every agent can "
                               "verify what it writes.")
    await node_states.image_source(rt, info, ctx)  # 400 now for an image that cannot be deployed
    uuids = await _deployable(rt, idents)
    args: dict[str, Any] = {}
    if body.get("configdrive") is not None:
        args["configdrive"] = body["configdrive"]
    ref = str(uuidlib.uuid4())
    async with rt.db.session() as s:
        await batches.create(s, rt.settings, uuid_=ref, delivery=delivery,
                             expected=len(uuids), project_id=ctx.project)
        await s.execute(update(Node).where(Node.uuid.in_(uuids))
                        .values(instance_info=info, **bump())
                        .execution_options(synchronize_session=False))
    for node_uuid in uuids:
        try:
            await node_states.set_provision_state(rt, ctx, node_uuid, "active", args, batch=ref)
        except BarecloudError as exc:  # lost a race since the check: that member is KO
            await _refused(rt, ref, node_uuid, exc.message)
    return await get(rt, ctx, ref)


async def _deployable(rt: Runtime, idents: list[str]) -> list[str]:
    """The nodes' UUIDs; 400 for unknown or repeated ones, 409 for busy ones, naming all."""
    found: list[Node] = []
    missing: list[str] = []
    async with rt.db.session() as s:
        for ident in idents:
            try:
                found.append(await nodes.find(s, ident, traits=False))
            except NotFound:
                missing.append(ident)
    if missing:
        raise InvalidParameter(f"No such node(s): {', '.join(missing)}.")
    uuids = [n.uuid for n in found]
    repeated = sorted({n.name or n.uuid for n in found if uuids.count(n.uuid) > 1})
    if repeated:
        raise InvalidParameter(f"Node(s) given more than once: {', '.join(repeated)}.")
    busy = [f"{n.name or n.uuid} ({_why_not(n)})" for n in found if _why_not(n)]
    if busy:
        raise Conflict(f"Cannot deploy node(s) {'; '.join(busy)}.")
    return uuids


def _why_not(node: Node) -> str | None:
    if node.maintenance:
        return "in maintenance"
    if node.reservation:
        return f"locked by {node.reservation}"
    if node.provision_state != states.AVAILABLE:
        return f"{node.provision_state}, not available"
    if node.instance_uuid:
        return f"has instance {node.instance_uuid}"
    return None


async def _refused(rt: Runtime, ref: str, node_uuid: str, message: str) -> None:
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
        s.add(DeployBatchMember(batch_uuid=ref, node_uuid=node_uuid,
                                node_name=node.name if node else None, state=batches.KO,
                                retried=False, sources=[], failures=[], error=message))


async def get(rt: Runtime, ctx: RequestContext, ref: str) -> Report:
    policy.authorize(ctx, "baremetal:node:get")
    async with rt.db.session() as s:
        batch = await s.get(DeployBatch, ref)
        if batch is None:
            raise NotFound(f"Deploy batch {ref} could not be found.")
        return await _view(s, batch)


async def list_batches(rt: Runtime, ctx: RequestContext) -> list[Report]:
    policy.authorize(ctx, "baremetal:node:get")
    async with rt.db.session() as s:
        rows = (await s.scalars(select(DeployBatch).order_by(DeployBatch.created_at.desc())
                                .limit(LIST_LIMIT))).all()
        return [await _view(s, b) for b in rows]


@dataclass(frozen=True)
class Report:
    """A batch, its members in chain order, and each member's node's provision state."""

    batch: DeployBatch
    members: list[DeployBatchMember]
    provision_states: dict[str, str]

    def count(self, state: str) -> int:
        return sum(m.state == state for m in self.members)

    def image_phase(self) -> float | None:
        """Seconds from the first write's start to the last successful write's end."""
        starts = [m.write_started_at for m in self.members if m.write_started_at]
        ends = [m.write_finished_at for m in self.members
                if m.write_finished_at and m.state == batches.OK]
        return (max(ends) - min(starts)).total_seconds() if starts and ends else None


async def _view(s: Any, batch: DeployBatch) -> Report:
    members = (await s.scalars(select(DeployBatchMember).where(
        DeployBatchMember.batch_uuid == batch.uuid).order_by(DeployBatchMember.id))).all()
    states_of = dict((await s.execute(select(Node.uuid, Node.provision_state).where(
        Node.uuid.in_([m.node_uuid for m in members])))).tuples().all())
    rows = sorted(members, key=lambda m: (m.position is None, m.position or 0, m.id))
    return Report(batch, rows, states_of)
