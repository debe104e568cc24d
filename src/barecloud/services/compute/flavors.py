"""Flavors: sizes of servers, and for bare metal the node class they ask for.

A bare-metal flavor names its node class and traits in extra specs, as Nova
with Ironic does: ``resources:CUSTOM_<CLASS>=1`` (the node's
``resource_class`` normalised as Placement does), ``resources:VCPU=0`` and
the like to ask for no virtual resources, and ``trait:<T>=required`` (or
``forbidden``).  The scheduler reads them through :func:`placement_request`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from barecloud.db.compute_models import Flavor, FlavorExtraSpec, FlavorProject
from barecloud.db.models import new_uuid
from barecloud.errors import Conflict, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal.schemas import TRAIT_RE
from barecloud.services.compute import schemas
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.tenancy import project_of

STANDARD_CLASSES = frozenset({
    "VCPU", "MEMORY_MB", "DISK_GB", "PCI_DEVICE", "SRIOV_NET_VF", "NUMA_SOCKET",
    "NUMA_CORE", "NUMA_THREAD", "NUMA_MEMORY_MB", "IPV4_ADDRESS", "VGPU",
    "VGPU_DISPLAY_HEAD", "NET_BW_EGR_KILOBIT_PER_SEC", "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU", "MEM_ENCRYPTION_CONTEXT", "FPGA", "PGPU",
})


def normalize_resource_class(name: str) -> str:
    """A node's ``resource_class`` as the Placement class Nova's Ironic driver reports."""
    return "CUSTOM_" + re.sub(r"[^0-9A-Za-z]+", "_", name).upper()


@dataclass(frozen=True)
class PlacementRequest:
    resource_class: str | None
    required: tuple[str, ...]
    forbidden: tuple[str, ...]


def placement_request(extra_specs: dict[str, str]) -> PlacementRequest:
    """The custom resource class (amount 1) and traits a flavor's extra specs ask for.

    More than one custom class, or an amount other than 1, asks for what no
    single node provides: ``resource_class`` is then None and nothing matches.
    """
    classes = []
    for key, value in extra_specs.items():
        if key.startswith("resources:CUSTOM_") and str(value).strip() != "0":
            classes.append((key.removeprefix("resources:"), str(value).strip()))
    rc = classes[0][0] if len(classes) == 1 and classes[0][1] == "1" else None
    required = sorted(k.removeprefix("trait:") for k, val in extra_specs.items()
                      if k.startswith("trait:") and val == "required")
    forbidden = sorted(k.removeprefix("trait:") for k, val in extra_specs.items()
                       if k.startswith("trait:") and val == "forbidden")
    return PlacementRequest(rc, tuple(required), tuple(forbidden))


def specs_of(flavor: Flavor) -> dict[str, str]:
    return {s.key: s.value for s in flavor.extra_specs}


def visible(ctx: RequestContext) -> ColumnElement[bool]:
    """Public flavors, and private ones offered to the requester's project."""
    access = exists().where(FlavorProject.flavor_id == Flavor.id,
                            FlavorProject.project_id == project_of(ctx))
    return or_(Flavor.is_public.is_(True), access)


def not_found(flavor_id: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} could not be found.")


async def find(s: AsyncSession, ctx: RequestContext, flavor_id: str) -> Flavor:
    q = select(Flavor).where(Flavor.flavorid == flavor_id)
    if not ctx.is_admin:
        q = q.where(visible(ctx))
    flavor = await s.scalar(q)
    if flavor is None:
        raise not_found(flavor_id)
    return flavor


async def get(rt: Runtime, ctx: RequestContext, flavor_id: str) -> Flavor:
    async with rt.db.session() as s:
        return await find(s, ctx, flavor_id)


@dataclass
class FlavorQuery:
    is_public: bool | None = True  # None: all (admins only)
    min_ram: int | None = None
    min_disk: int | None = None
    limit: int | None = None
    marker: str | None = None
    sort_key: str = "flavorid"
    sort_dir: str = "asc"


async def list_flavors(rt: Runtime, ctx: RequestContext, query: FlavorQuery) -> list[Flavor]:
    q = select(Flavor)
    if query.is_public is True or not ctx.is_admin:
        q = q.where(visible(ctx))
        if not ctx.is_admin:
            q = q.where(Flavor.disabled.is_(False))
    elif query.is_public is False:
        q = q.where(Flavor.is_public.is_(False))
    if query.min_ram is not None:
        q = q.where(Flavor.memory_mb >= query.min_ram)
    if query.min_disk is not None:
        q = q.where(Flavor.root_gb >= query.min_disk)
    col = getattr(Flavor, query.sort_key)
    asc = query.sort_dir == "asc"
    q = q.order_by(col.asc() if asc else col.desc(), Flavor.id.asc() if asc else Flavor.id.desc())
    cap = rt.settings.api_max_limit
    limit = cap if query.limit is None else min(query.limit, cap)  # 0: none, as Nova
    async with rt.db.session() as s:
        if query.marker is not None:
            marker = await s.scalar(select(Flavor).where(Flavor.flavorid == query.marker))
            if marker is None:
                raise InvalidParameter(f"marker [{query.marker}] not found")
            mval = getattr(marker, query.sort_key)
            after = (col > mval) if asc else (col < mval)
            tie = Flavor.id > marker.id if asc else Flavor.id < marker.id
            q = q.where(or_(after, and_(col == mval, tie)))
        return list((await s.scalars(q.limit(limit))).all())


def _rxtx(data: dict[str, Any]) -> float:
    """``rxtx_factor`` as a number; its bound applied to a number given as text too."""
    raw = data.get("rxtx_factor", 1.0)
    rxtx = float(raw)
    if rxtx <= 0:
        raise schemas.invalid("rxtx_factor", raw, f"{raw!r} is less than or equal to the "
                              "minimum of 0")
    return rxtx


def _create_values(data: dict[str, Any]) -> dict[str, Any]:
    """``flavor`` of a body that fits schemas.CREATE_FLAVOR, as the row's values."""
    flavor_id = data.get("id")
    if isinstance(flavor_id, int | float):
        flavor_id = str(flavor_id)
    swap = data.get("swap")
    return {
        "name": data["name"],
        "flavorid": flavor_id if flavor_id not in (None, "auto") else new_uuid(),
        "memory_mb": schemas.to_int(data, "ram", schemas.RAM),
        "vcpus": schemas.to_int(data, "vcpus", schemas.VCPUS),
        "root_gb": schemas.to_int(data, "disk", schemas.DISK),
        "ephemeral_gb": schemas.to_int(data, "OS-FLV-EXT-DATA:ephemeral", schemas.DISK, 0),
        "swap": 0 if swap == "" else schemas.to_int(data, "swap", schemas.SWAP, 0),
        "rxtx_factor": _rxtx(data),
        "is_public": schemas.to_bool(data.get("os-flavor-access:is_public"), default=True),
        "description": data.get("description"),
    }


async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any],
                 version: tuple[int, int]) -> Flavor:
    """``body`` fits schemas.CREATE_FLAVOR at ``version`` (the API checked it)."""
    values = _create_values(body["flavor"])
    policy.authorize(ctx, "compute:flavors:create")
    flavor = Flavor(**values, disabled=False, extra_specs=[])
    try:
        async with rt.db.session() as s:
            if await s.scalar(select(Flavor.id).where(Flavor.name == flavor.name)):
                raise Conflict(f"Flavor with name {flavor.name} already exists.")
            if await s.scalar(select(Flavor.id).where(Flavor.flavorid == flavor.flavorid)):
                raise Conflict(f"Flavor with ID {flavor.flavorid} already exists.")
            s.add(flavor)
    except IntegrityError:  # created meanwhile by another request
        raise Conflict(f"Flavor with name {flavor.name} already exists.") from None
    return flavor


async def update(rt: Runtime, ctx: RequestContext, flavor_id: str,
                 body: dict[str, Any]) -> Flavor:
    """``body`` fits schemas.UPDATE_FLAVOR."""
    description = body["flavor"]["description"]
    policy.authorize(ctx, "compute:flavors:update")
    async with rt.db.session() as s:
        flavor = await find(s, ctx, flavor_id)
        flavor.description = description
    return flavor


async def remove(rt: Runtime, ctx: RequestContext, flavor_id: str) -> None:
    policy.authorize(ctx, "compute:flavors:delete")
    async with rt.db.session() as s:
        flavor = await find(s, ctx, flavor_id)
        await s.execute(delete(Flavor).where(Flavor.id == flavor.id))


# --- extra specs --------------------------------------------------------
def check_spec(key: str, value: str | float | bool) -> str:
    """An extra spec (declared by schemas.SPECS) as stored: a string, of 255
    characters at most (a number too), that means what its key asks."""
    text = str(value)
    if len(text) > 255:
        raise schemas.invalid(key, value, f"{value!r} is too long")
    if key.startswith("resources"):
        _check_resource_spec(key, text)
    elif key.startswith("trait"):
        _check_trait_spec(key, text)
    return text


def _check_resource_spec(key: str, value: str) -> None:
    _, _, rc = key.partition(":")
    if not rc or not (rc in STANDARD_CLASSES or re.match(r"^CUSTOM_[A-Z0-9_]+$", rc)):
        raise InvalidParameter(
            f"Validation failed; extra spec {key!r}: the resource class must be a standard "
            "one (VCPU, MEMORY_MB, DISK_GB, ...) or CUSTOM_[A-Z0-9_]+; a node's resource "
            "class 'baremetal' is 'resources:CUSTOM_BAREMETAL'."
        )
    if not re.match(r"^[0-9]+$", value):
        raise InvalidParameter(f"Validation failed; extra spec {key!r}: the value {value!r} "
                               "is not a non-negative integer.")


def _check_trait_spec(key: str, value: str) -> None:
    _, _, trait = key.partition(":")
    if not trait or not TRAIT_RE.match(trait):
        raise InvalidParameter(f"Validation failed; extra spec {key!r}: {trait!r} is not a "
                               "valid trait name.")
    if value not in ("required", "forbidden"):
        raise InvalidParameter(f"Validation failed; extra spec {key!r}: the value must be "
                               f"'required' or 'forbidden', not {value!r}.")


async def set_specs(rt: Runtime, ctx: RequestContext, flavor_id: str,
                    specs: dict[str, Any]) -> dict[str, str]:
    """Add or replace ``specs``; the whole set is checked before anything is written."""
    checked = {k: check_spec(k, val) for k, val in specs.items()}
    policy.authorize(ctx, "compute:flavors:extra_specs:update")
    async with rt.db.session() as s:
        flavor = await find(s, ctx, flavor_id)
        current = {spec.key: spec for spec in flavor.extra_specs}
        for key, value in checked.items():
            if key in current:
                current[key].value = value
            else:
                flavor.extra_specs.append(FlavorExtraSpec(key=key, value=value))
    return checked


async def delete_spec(rt: Runtime, ctx: RequestContext, flavor_id: str, key: str) -> None:
    policy.authorize(ctx, "compute:flavors:extra_specs:update")
    async with rt.db.session() as s:
        flavor = await find(s, ctx, flavor_id)
        kept = [spec for spec in flavor.extra_specs if spec.key != key]
        if len(kept) == len(flavor.extra_specs):
            raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
        flavor.extra_specs = kept


# --- access ---------------------------------------------------------------
async def access_list(rt: Runtime, ctx: RequestContext, flavor_id: str) -> list[str]:
    policy.authorize(ctx, "compute:flavors:access")
    async with rt.db.session() as s:
        flavor = await find(s, ctx, flavor_id)
        if flavor.is_public:
            raise NotFound("Access list not available for public flavors.")
        rows = await s.scalars(select(FlavorProject.project_id)
                               .where(FlavorProject.flavor_id == flavor.id)
                               .order_by(FlavorProject.project_id))
        return list(rows.all())


async def add_access(rt: Runtime, ctx: RequestContext, flavor_id: str, project: str) -> None:
    policy.authorize(ctx, "compute:flavors:access")
    try:
        async with rt.db.session() as s:
            flavor = await find(s, ctx, flavor_id)
            if flavor.is_public:
                raise Conflict("Can not add access to a public flavor.")
            if await s.scalar(select(FlavorProject.flavor_id).where(
                FlavorProject.flavor_id == flavor.id, FlavorProject.project_id == project
            )):
                raise _access_exists(flavor_id, project)
            s.add(FlavorProject(flavor_id=flavor.id, project_id=project))
    except IntegrityError:
        raise _access_exists(flavor_id, project) from None


def _access_exists(flavor_id: str, project: str) -> Conflict:
    return Conflict(f"Flavor access already exists for flavor {flavor_id} and project "
                    f"{project} combination.")


async def remove_access(rt: Runtime, ctx: RequestContext, flavor_id: str,
                        project: str) -> None:
    policy.authorize(ctx, "compute:flavors:access")
    async with rt.db.session() as s:
        flavor = await find(s, ctx, flavor_id)
        result = await s.execute(delete(FlavorProject).where(
            FlavorProject.flavor_id == flavor.id, FlavorProject.project_id == project))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"Flavor access not found for {flavor_id} / {project} "
                           "combination.")
