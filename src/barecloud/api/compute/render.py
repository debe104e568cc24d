"""Servers and flavors as Nova shows them at the version the client asked for."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from fastapi import Request

from barecloud.api.compute import params
from barecloud.db.compute_models import Flavor, Server
from barecloud.services import policy
from barecloud.services.compute import flavors
from barecloud.services.compute import status as st
from barecloud.services.compute.queries import ServerView
from barecloud.services.context import RequestContext

PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def iso_z(when: dt.datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def iso(when: dt.datetime | None) -> str | None:
    """OS-SRV-USG and key pair times: ISO 8601 with microseconds, no zone (as Nova)."""
    return when.isoformat() if when else None


def host_id(project: str, host: str | None) -> str:
    return hashlib.sha224((project + host).encode()).hexdigest() if host else ""


def server_summary(request: Request, s: Server) -> dict[str, Any]:
    return {"id": s.uuid, "name": s.name, "links": params.links(request, "servers", s.uuid)}


def _flavor(request: Request, s: Server, v: params.V) -> dict[str, Any]:
    f = s.flavor or {}
    if v < (2, 47):
        return {"id": s.flavor_id, "links": [
            {"rel": "bookmark", "href": f"{params.bookmark(request)}/flavors/{s.flavor_id}"}]}
    return {"vcpus": f.get("vcpus", 0), "ram": f.get("ram", 0), "disk": f.get("disk", 0),
            "ephemeral": f.get("ephemeral", 0), "swap": f.get("swap", 0),
            "original_name": f.get("name", ""), "extra_specs": dict(f.get("extra_specs") or {})}


def _host_status(view: ServerView) -> str:
    if view.node is None:
        return ""
    if view.node.maintenance:
        return "MAINTENANCE"
    return "UNKNOWN" if view.node.fault else "UP"


def _addresses(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Nova's ``addresses``: a network whose ports have no fixed IP is an empty list
    (rows written before that rule may hold ``"addr": ""``, which clients reject)."""
    return {label: [a for a in entries if isinstance(a, dict) and a.get("addr")]
            for label, entries in (stored or {}).items()}


def server(request: Request, ctx: RequestContext, view: ServerView) -> dict[str, Any]:
    v = params.version(request)
    s, node = view.server, view.node
    status = st.status(s.vm_state, s.task_state)
    host = node.host if node else None
    body: dict[str, Any] = {
        **server_summary(request, s),
        "status": status, "tenant_id": s.project_id, "user_id": s.user_id,
        "metadata": dict(s.meta or {}), "hostId": host_id(s.project_id, host),
        "image": {"id": s.image_ref, "links": [
            {"rel": "bookmark", "href": f"{params.bookmark(request)}/images/{s.image_ref}"}]},
        "flavor": _flavor(request, s, v),
        "created": iso_z(s.created_at), "updated": iso_z(s.updated_at or s.created_at),
        "addresses": _addresses(s.addresses), "accessIPv4": "", "accessIPv6": "",
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": s.availability_zone or "",
        "config_drive": "True" if s.config_drive else "", "key_name": s.key_name,
        "OS-SRV-USG:launched_at": iso(s.launched_at),
        "OS-SRV-USG:terminated_at": iso(s.terminated_at),
        "OS-EXT-STS:task_state": s.task_state, "OS-EXT-STS:vm_state": s.vm_state,
        "OS-EXT-STS:power_state": s.power_state,
        "os-extended-volumes:volumes_attached": [],
    }
    if status in PROGRESS_STATUSES:
        body["progress"] = 0
    admin = policy.can(ctx, "compute:servers:show:host_details",
                       {"project_id": s.project_id})
    if admin:
        body.update({"OS-EXT-SRV-ATTR:host": host,
                     "OS-EXT-SRV-ATTR:hypervisor_hostname": node.uuid if node else None,
                     "OS-EXT-SRV-ATTR:instance_name": f"instance-{s.id:08x}"})
        if v >= (2, 3):
            body.update({
                "OS-EXT-SRV-ATTR:reservation_id": s.reservation_id,
                "OS-EXT-SRV-ATTR:launch_index": s.launch_index,
                "OS-EXT-SRV-ATTR:hostname": s.hostname, "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:root_device_name": None,
                "OS-EXT-SRV-ATTR:user_data": s.user_data,
            })
        if v >= (2, 16):
            body["host_status"] = _host_status(view)
    if v >= (2, 90):
        body["OS-EXT-SRV-ATTR:hostname"] = s.hostname
    if v >= (2, 9):
        body["locked"] = False
    if v >= (2, 19):
        body["description"] = s.description
    if v >= (2, 26):
        body["tags"] = []
    if v >= (2, 63):
        body["trusted_image_certificates"] = None
    if v >= (2, 71):
        body["server_groups"] = []
    if v >= (2, 73):
        body["locked_reason"] = None
    if v >= (2, 96):
        body["pinned_availability_zone"] = s.requested_az
    if s.fault and status in ("ERROR", "DELETED", "UNKNOWN"):
        fault = {k: s.fault.get(k) for k in ("code", "created", "message")}
        if admin or s.fault.get("code") != 500:
            fault["details"] = s.fault.get("details", "")
        body["fault"] = fault
    return body


def flavor(request: Request, f: Flavor, detail: bool = True) -> dict[str, Any]:
    v = params.version(request)
    body: dict[str, Any] = {"id": f.flavorid, "name": f.name,
                            "links": params.links(request, "flavors", f.flavorid)}
    if v >= (2, 55):
        body["description"] = f.description
    if not detail:
        return body
    body.update({
        "ram": f.memory_mb, "disk": f.root_gb, "vcpus": f.vcpus,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb, "OS-FLV-DISABLED:disabled": f.disabled,
        "swap": f.swap if f.swap or v >= (2, 75) else "", "rxtx_factor": f.rxtx_factor,
        "os-flavor-access:is_public": f.is_public,
    })
    if v >= (2, 61):
        body["extra_specs"] = flavors.specs_of(f)
    return body
