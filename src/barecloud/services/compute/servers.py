"""Server create: Nova's checks of a request, count quota, insert BUILD rows.

Nothing here touches a node: the rows start ``building``/``scheduling`` and
the reconciler (:mod:`barecloud.services.compute.sync`) schedules them, so a
create answers at once and a crash between the two loses nothing.  The rows
are inserted claimed by the create itself (``sync_holder``) until the quota
is counted again: a recheck that finds the project over its quota deletes
rows no reconciler has touched, where it once deleted servers a reconciler
had already given a node (which then kept their ``instance_uuid`` for good).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
import secrets
import string as _string
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import delete, select, update

from barecloud import states
from barecloud.conductor import batches
from barecloud.db.compute_models import Server
from barecloud.db.models import Image, Node, bump, new_uuid, utcnow
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.compute import (
    destinations,
    flavors,
    instance_actions,
    instance_groups,
    keypairs,
    quotas,
    reservations,
    schemas,
    server_groups,
    vm_placement,
)
from barecloud.services.compute import status as st
from barecloud.services.compute.hypervisors import zones
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images
from barecloud.services.image.images import ImageNotActive
from barecloud.services.network import vifs
from barecloud.services.tenancy import project_of, user_of

MAX_USER_DATA = 65535
# The scheduler hint that picks how a multi-create's image reaches the machines.
DELIVERY_HINT = "image_delivery"
# How long a create holds its rows from the reconcilers (a create that dies
# before its recheck leaves them to the reconcilers after this).
CREATE_HOLD_SECONDS = 60.0


@dataclass
class Created:
    servers: list[Server]
    reservation_id: str
    return_reservation_id: bool


def sanitize_hostname(name: str, default: str | None = None) -> str:
    """Nova's ``utils.sanitize_hostname``: RFC 952/1123 characters, 63 at most."""
    hostname = name.encode("latin-1", "ignore").decode("latin-1")[:63]
    hostname = re.sub(r"[ _.]", "-", hostname)
    hostname = re.sub(r"[^\w.-]+", "", hostname)
    hostname = hostname.lower().strip(".-")
    if hostname == "" and default is not None:
        return default[:63]
    return hostname


def reservation_id() -> str:
    alphabet = _string.ascii_lowercase + _string.digits
    return "r-" + "".join(secrets.choice(alphabet) for _ in range(8))


def ref_id(ref: Any, field: str) -> str:
    """The id at the end of an href (``http://.../flavors/1`` → ``1``), or the value."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return str(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise schemas.invalid(field, ref, f"{ref!r} is not a valid reference")
    return urlparse(ref).path.rstrip("/").rsplit("/", 1)[-1] if "/" in ref else ref


def decode_user_data(value: Any) -> str | None:
    """``user_data`` as the text the config drive will carry; 400 if it is not base64."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_USER_DATA:
        raise InvalidParameter("User data too large. User data must be no larger than "
                               f"{MAX_USER_DATA} bytes once base64 encoded.")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameter("User data needs to be valid base 64.") from None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise InvalidParameter(
            "User data must be UTF-8 text once decoded: barecloud's config drive carries "
            "it as text (compressed or binary user data is not supported)."
        ) from None


def check_metadata(data: dict[str, Any], key: str = "metadata") -> dict[str, str]:
    """Metadata's keys and values, in the words clients have been shown (the
    declaration says only that it is an object)."""
    meta: dict[str, Any] = data.get(key, {})
    for k, val in meta.items():
        if not 1 <= len(k) <= 255:
            raise schemas.invalid(key, meta, f"metadata key {k!r} must be 1 to 255 characters")
        if not isinstance(val, str) or len(val) > 255:
            raise schemas.invalid(key, meta, f"metadata value of {k!r} must be a string of "
                                  "255 characters at most")
    return meta


def _check_unsupported(data: dict[str, Any]) -> None:
    for bdm in data.get("block_device_mapping_v2") or []:
        if not isinstance(bdm, dict) or bdm.get("source_type") != "image" or (
            bdm.get("destination_type") not in (None, "local")
        ):
            raise InvalidParameter("Block device mapping is not supported: barecloud deploys "
                                   "an image to the node's own disk (give imageRef).")
    if data.get("block_device_mapping"):
        raise InvalidParameter("Block device mapping is not supported: barecloud deploys "
                               "an image to the node's own disk (give imageRef).")
    if data.get("trusted_image_certificates"):
        raise InvalidParameter("Image signature certificate validation is not supported.")


@dataclass
class _Request:
    name: str
    image: str
    flavor_id: str
    key_name: str | None
    user_data: str | None  # base64, as sent (checked to decode to text)
    meta: dict[str, str]
    networks: Any
    az: str | None
    min_count: int
    max_count: int
    description: str | None
    hostname: str | None
    config_drive: bool
    access_ips: dict[str, Any]
    tags: list[str]


def _parse(data: dict[str, Any]) -> _Request:
    """``server`` of a body checked against schemas.CREATE_SERVER: what the
    declaration cannot say."""
    if data.get("personality"):
        raise InvalidParameter("Personality files are not supported; use user_data.")
    _check_unsupported(data)
    name: str = data["name"]
    if "imageRef" not in data or data["imageRef"] in ("", None):
        raise InvalidParameter("Invalid imageRef provided: barecloud boots an image "
                               "(booting from a volume is not supported).")
    image = ref_id(data["imageRef"], "imageRef")
    if not UUID_RE.match(image):
        raise InvalidParameter("Invalid imageRef provided.")
    min_count = schemas.to_int(data, "min_count", schemas.COUNT, 1) or 1
    max_count = schemas.to_int(data, "max_count", schemas.COUNT, min_count) or min_count
    if min_count > max_count:
        raise InvalidParameter("min_count must be <= max_count")
    hostname: str | None = data.get("hostname")
    if hostname is not None and max_count > 1:
        raise InvalidParameter("Cannot specify hostname with multiple instances "
                               "(max_count > 1).")
    az: str | None = data.get("availability_zone") or None
    if az is not None and ":" in az:
        raise InvalidParameter("Forcing a host or node with availability_zone "
                               "'zone:host:node' is not supported; give the zone alone.")
    return _Request(
        name=name, image=image.lower(), flavor_id=ref_id(data["flavorRef"], "flavorRef"),
        key_name=data.get("key_name"),
        user_data=data.get("user_data") if decode_user_data(data.get("user_data")) is not None
        else None, meta=check_metadata(data),
        networks=data.get("networks"), az=az, min_count=min_count, max_count=max_count,
        description=data.get("description"), hostname=hostname,
        config_drive=schemas.to_bool(data.get("config_drive"), default=True),
        access_ips=access_ips(data), tags=list(dict.fromkeys(data.get("tags") or [])),
    )


def access_ips(data: dict[str, Any]) -> dict[str, Any]:
    """``accessIPv4``/``accessIPv6`` given (their format checked by the schema), as the
    columns' values in Nova's spelling of the address; and ``OS-DCF:diskConfig``."""
    values: dict[str, Any] = {
        column: str(ipaddress.ip_address(data[key])) if data[key] else None
        for key, column in (("accessIPv4", "access_ip_v4"), ("accessIPv6", "access_ip_v6"))
        if key in data}
    if "OS-DCF:diskConfig" in data:
        values["auto_disk_config"] = data["OS-DCF:diskConfig"] == "AUTO"
    return values


async def check_image(rt: Runtime, ctx: RequestContext, image_id: str) -> Image:
    try:
        image = await images.get(rt, ctx, image_id)
    except NotFound:
        raise InvalidParameter(f"Image {image_id} could not be found.") from None
    if image.status != "active":
        raise ImageNotActive(f"Image {image_id} is not active.")
    return image


def check_image_fits(image: Image, root_gb: int, memory_mb: int) -> None:
    """Nova's checks of an image against the flavor (skipped for a flavor with no disk)."""
    if root_gb <= 0:
        return
    disk = root_gb * 2**30
    if image.min_disk and image.min_disk * 2**30 > disk:
        raise InvalidParameter(
            "Flavor's disk is smaller than the minimum size specified in image metadata. "
            f"Flavor disk is {disk} bytes, minimum size is {image.min_disk * 2**30} bytes.")
    size = image.raw_size or image.virtual_size or image.size or 0
    if size > disk:
        raise InvalidParameter("Flavor's disk is too small for requested image. Flavor disk "
                               f"is {disk} bytes, image is {size} bytes.")
    if image.min_ram and image.min_ram > memory_mb:
        raise InvalidParameter("Flavor's memory is too small for requested image.")


def flavor_snapshot(flavor: Any) -> dict[str, Any]:
    return {"id": flavor.flavorid, "name": flavor.name, "vcpus": flavor.vcpus,
            "ram": flavor.memory_mb, "disk": flavor.root_gb,
            "ephemeral": flavor.ephemeral_gb, "swap": flavor.swap,
            "rxtx_factor": flavor.rxtx_factor, "extra_specs": flavors.specs_of(flavor)}


async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any],
                 version: tuple[int, int]) -> Created:
    """``body`` fits schemas.CREATE_SERVER at ``version`` (the API checked it)."""
    data = body["server"]
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    req = _parse(data)
    return_rid = schemas.to_bool(data.get("return_reservation_id"))
    project, user = project_of(ctx), user_of(ctx)
    policy.authorize(ctx, "compute:servers:create", {"project_id": project})
    try:
        flavor = await flavors.get(rt, ctx, req.flavor_id)
    except NotFound:
        raise InvalidParameter(f"Flavor {req.flavor_id} could not be found.") from None
    if flavor.disabled:
        raise InvalidParameter("Flavor is disabled.")
    kept_hints = await reservations.check_hint(rt, hints, project, flavors.specs_of(flavor))
    if data.get("host") or data.get("hypervisor_hostname"):
        policy.authorize(ctx, "compute:servers:create:requested_destination")
        kept_hints[destinations.HINT] = await destinations.check(
            rt, data, vm_placement.is_vm_flavor(flavors.specs_of(flavor)), flavor.name)
    delivery = _delivery(rt, hints)
    image = await check_image(rt, ctx, req.image)
    check_image_fits(image, flavor.root_gb, flavor.memory_mb)
    await vifs.check_requested(rt, ctx, req.networks)
    groups = await server_groups.resolve(rt, ctx, project, data.get("security_groups"))
    if groups is not None and isinstance(req.networks, list):
        # The ports made for the server go in them (given ports keep theirs, as Nova's).
        req.networks = [{**n, "security_groups": groups} if "port" not in n else n
                        for n in req.networks]
    key_data = await keypairs.public_key_of(rt, ctx, req.key_name) if req.key_name else None
    if req.az is not None and req.az not in await zones(rt):
        raise InvalidParameter("The requested availability zone is not available")
    rid = reservation_id()
    snapshot = flavor_snapshot(flavor)
    async with rt.db.session() as s:
        await quotas.check_metadata(s, project, len(req.meta))
        limits = await quotas.limits_of(s, project)
        used = await quotas.usage(s, project)
        count = quotas.admissible(limits, used, req.min_count, req.max_count,
                                  flavor.vcpus, flavor.memory_mb)
        servers = [_row(req, i, count, rid, project, user, snapshot, key_data, kept_hints)
                   for i in range(count)]
        hold = utcnow() + dt.timedelta(seconds=CREATE_HOLD_SECONDS)
        for server in servers:
            server.sync_holder, server.sync_until = _holder(rid), hold
        s.add_all(servers)
        for server in servers:
            instance_actions.record(s, ctx, server, "create")
        if hints.get("group"):
            await instance_groups.join(s, ctx, hints["group"], [x.uuid for x in servers])
        if count > 1 and not vm_placement.is_vm_flavor(snapshot["extra_specs"]):
            # one image to many machines: one deploy batch (conductor/batches.py)
            await batches.create(s, rt.settings, uuid_=rid, delivery=delivery,
                                 expected=count, project_id=project)
    await _recheck(rt, servers, project, limits, used, req, flavor)
    return Created(servers, rid, return_rid)


def _delivery(rt: Runtime, hints: dict[str, Any]) -> str:
    """The ``image_delivery`` scheduler hint (barecloud's): chain or http."""
    value = hints.get(DELIVERY_HINT, rt.settings.deploy_batch_delivery)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]  # the CLI's --hint may send a one-element list
    if value not in batches.DELIVERIES:
        raise InvalidParameter(f"Invalid input for field/attribute {DELIVERY_HINT}: "
                               f"{value!r} is not one of {', '.join(batches.DELIVERIES)}.")
    return str(value)


def _row(req: _Request, index: int, count: int, rid: str, project: str, user: str,
         snapshot: dict[str, Any], key_data: str | None, hints: dict[str, Any]) -> Server:
    uuid = new_uuid()
    name = req.name if count == 1 else f"{req.name}-{index + 1}"
    if req.hostname:
        hostname = req.hostname
    elif count > 1 and sanitize_hostname(req.name) == "":
        hostname = f"Server-{uuid}"
    else:
        hostname = sanitize_hostname(name, f"Server-{uuid}")
    return Server(
        uuid=uuid, name=name, description=req.description, hostname=hostname,
        project_id=project, user_id=user, flavor=snapshot, flavor_id=snapshot["id"],
        vcpus=snapshot["vcpus"], memory_mb=snapshot["ram"], image_ref=req.image,
        key_name=req.key_name, key_data=key_data, user_data=req.user_data,
        meta=req.meta, requested_az=req.az, availability_zone=req.az,
        networks=req.networks, scheduler_hints=hints, config_drive=req.config_drive,
        reservation_id=rid, launch_index=index, vm_state=st.BUILDING,
        task_state=st.SCHEDULING, power_state=st.NOSTATE, attempts=[], fault=None,
        addresses={}, pending=None, pending_sent=False, deleted=False, tags=req.tags,
        **req.access_ips,
    )


def _holder(rid: str) -> str:
    """The ``sync_holder`` of a create's rows until its recheck."""
    return f"create:{rid}"


async def _recheck(rt: Runtime, servers: list[Server], project: str,
                   limits: dict[str, int], used_before: dict[str, int], req: _Request,
                   flavor: Any) -> None:
    """Count again now that the rows exist: a concurrent create may have passed too.
    Then hand the rows to the reconcilers, or delete them."""
    ids = [x.id for x in servers]
    async with rt.db.session() as s:
        used = await quotas.usage(s, project)
        over = any(limits[r] >= 0 and used[r] > limits[r] for r in ("instances", "cores", "ram"))
        if not over:
            await s.execute(update(Server).where(
                Server.id.in_(ids), Server.sync_holder == _holder(servers[0].reservation_id))
                .values(sync_holder=None, sync_until=None)
                .execution_options(synchronize_session=False))
            for server in servers:
                server.sync_holder = server.sync_until = None
            return
        # A node claimed for one of them all the same (the create stalled past its
        # hold) goes back with it, in this transaction.
        await s.execute(update(Node).where(
            Node.instance_uuid.in_([x.uuid for x in servers]),
            Node.provision_state == states.AVAILABLE, Node.reservation.is_(None))
            .values(instance_uuid=None, instance_info={}, **bump())
            .execution_options(synchronize_session=False))
        await s.execute(delete(Server).where(Server.id.in_(ids)))
    mine = len(servers)
    others = {"instances": used["instances"] - mine,
              "cores": used["cores"] - mine * flavor.vcpus,
              "ram": used["ram"] - mine * flavor.memory_mb}
    raise quotas.refusal(limits, {**used_before, **others}, req.min_count, mine,
                         flavor.vcpus, flavor.memory_mb)


async def uuids_of(rt: Runtime, reservation: str) -> list[str]:
    async with rt.db.session() as s:
        return list((await s.scalars(select(Server.uuid)
                                     .where(Server.reservation_id == reservation))).all())
