"""What ``/boot/images/<id>`` serves: an image's raw bytes to the node deploying it.

The request must carry the signed URL of the node's ``write_image`` command
(conductor/image_urls.py), and the node must still be deploying that image
(or, for a URL signed for a hypervisor, one of its VMs must run it):
a URL outlives neither its expiry nor the run it was issued for.  Every
refusal is a 401 that says nothing of the image (not whether it exists).
"""

from __future__ import annotations

from sqlalchemy import select

from barecloud import states
from barecloud.conductor import image_urls
from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.models import Node
from barecloud.errors import Unauthorized
from barecloud.services.context import Runtime
from barecloud.services.image import images

# A URL signed for a hypervisor's agent names ``hv-<uuid>`` (services/compute/host_reports.py).
HOST_SUBJECT = "hv-"
# The states in which a node's agent writes its image.
WRITING = (states.DEPLOYING, states.DEPLOYWAIT)


async def machine_image(rt: Runtime, image_id: str, node: str | None, expires: str | None,
                        signature: str | None) -> images.RawImage:
    """The raw image for a valid, unexpired URL of a node deploying it; else Unauthorized."""
    try:
        grant = image_urls.check(image_urls.load_key(rt.settings.data_dir), image_id, node,
                                 expires, signature)
    except image_urls.Refused as exc:
        raise Unauthorized(str(exc)) from None
    if grant.node_uuid.startswith(HOST_SUBJECT):
        await _host_runs(rt, grant.node_uuid.removeprefix(HOST_SUBJECT), image_id)
        return await images.raw_image(rt, image_id)
    async with rt.db.session() as s:
        row = (await s.execute(
            select(Node.provision_state, Node.instance_info)
            .where(Node.uuid == grant.node_uuid))).first()
    info = dict(row.instance_info or {}) if row is not None else {}
    if row is None or row.provision_state not in WRITING or (
            str(info.get("image_source")).lower() != image_id.lower()):
        raise Unauthorized("The image URL is no longer valid: its node is not deploying "
                           "this image.")
    return await images.raw_image(rt, image_id)


async def _host_runs(rt: Runtime, hypervisor_uuid: str, image_id: str) -> None:
    """Unauthorized unless a VM of that host (not deleted) runs ``image_id``."""
    async with rt.db.session() as s:
        found = await s.scalar(select(Server.id).join(
            Hypervisor, Hypervisor.id == Server.hypervisor_id).where(
            Hypervisor.uuid == hypervisor_uuid, Server.deleted.is_(False),
            Server.image_ref == image_id.lower()).limit(1))
    if found is None:
        raise Unauthorized("The image URL is no longer valid: no instance of its host runs "
                           "this image.")
