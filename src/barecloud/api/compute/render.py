"""Servers and flavors as Nova shows them at the version the client asked for."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import Any

from fastapi import Request

from barecloud.api.compute import params
from barecloud.db.compute_models import Flavor
from barecloud.services import policy
from barecloud.services.compute import flavors
from barecloud.services.compute import status as st
from barecloud.services.compute.queries import NodeFacts, ServerView, Shown
from barecloud.services.context import RequestContext

PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def iso_z(when: dt.datetime | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ``.  isoformat begins a naive time (the columns are naive)
    with what strftime writes, at a quarter of its cost: a page shows 2,000 of them."""
    return when.isoformat()[:19] + "Z" if when else None


def iso(when: dt.datetime | None) -> str | None:
    """OS-SRV-USG and key pair times: ISO 8601 with microseconds, no zone (as Nova)."""
    return when.isoformat() if when else None


@functools.lru_cache(maxsize=4096)
def host_id(project: str, host: str | None) -> str:
    """Cached: a page names a few hundred hosts, each on many of its servers."""
    return hashlib.sha224((project + host).encode()).hexdigest() if host else ""


def server(request: Request, ctx: RequestContext, view: ServerView,
           shape: str = "show") -> dict[str, Any]:
    """One server as ``GET``, ``PUT`` (``update``) or ``rebuild`` answer it."""
    return Servers(request, ctx).server(view.server, view.node, view.security_groups, shape,
                                        view.server_groups)


def _host_status(node: NodeFacts | None) -> str:
    if node is None:
        return ""
    if node.maintenance:
        return "MAINTENANCE"
    return "UNKNOWN" if node.fault else "UP"


def addresses(s: Shown, extended: bool = True) -> dict[str, Any]:
    """A server's ``addresses`` by network (``extended``: with MAC and type)."""
    return _addresses(s.addresses, extended) if s.addresses else {}


def _addresses(stored: dict[str, Any] | None, extended: bool = True) -> dict[str, Any]:
    """Nova's ``addresses``: a network whose ports have no fixed IP is an empty list
    (rows written before that rule may hold ``"addr": ""``, which clients reject).
    Not ``extended``: only ``version`` and ``addr``, as Nova's ``/ips`` and its update
    and rebuild answers below 2.75."""
    return {label: [a if extended else {"version": a.get("version"), "addr": a["addr"]}
                    for a in entries if isinstance(a, dict) and a.get("addr")]
            for label, entries in (stored or {}).items()}


class Servers:
    """Servers as one request shows them: what its servers share (version, link
    prefixes, the host details rule per project) is worked out once, not per server
    of a 1,000-server page."""

    def __init__(self, request: Request, ctx: RequestContext) -> None:
        v = params.version(request)
        self.ctx = ctx
        root, bookmark = params.root(request), params.bookmark(request)
        self.self_href, self.bookmark_href = f"{root}/servers/", f"{bookmark}/servers/"
        self.image_href, self.flavor_href = f"{bookmark}/images/", f"{bookmark}/flavors/"
        self.v2_3, self.v2_9, self.v2_16, self.v2_19 = (
            v >= (2, 3), v >= (2, 9), v >= (2, 16), v >= (2, 19))
        self.v2_26, self.v2_47, self.v2_63, self.v2_71 = (
            v >= (2, 26), v >= (2, 47), v >= (2, 63), v >= (2, 71))
        self.v2_73, self.v2_90, self.v2_96 = v >= (2, 73), v >= (2, 90), v >= (2, 96)
        self.v2_54, self.v2_57, self.v2_75 = v >= (2, 54), v >= (2, 57), v >= (2, 75)
        self._admin: dict[str, bool] = {}

    def admin(self, project_id: str) -> bool:
        """The host details rule, asked once per project a page shows."""
        seen = self._admin.get(project_id)
        if seen is None:
            seen = self._admin[project_id] = policy.can(
                self.ctx, "compute:servers:show:host_details", {"project_id": project_id})
        return seen

    def links(self, uuid: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"{self.self_href}{uuid}"},
                {"rel": "bookmark", "href": f"{self.bookmark_href}{uuid}"}]

    def summary(self, s: Shown) -> dict[str, Any]:
        return {"id": s.uuid, "name": s.name, "links": self.links(s.uuid)}

    def _flavor(self, s: Shown) -> dict[str, Any]:
        if not self.v2_47:
            return {"id": s.flavor_id, "links": [
                {"rel": "bookmark", "href": f"{self.flavor_href}{s.flavor_id}"}]}
        f = s.flavor or {}
        return {"vcpus": f.get("vcpus", 0), "ram": f.get("ram", 0), "disk": f.get("disk", 0),
                "ephemeral": f.get("ephemeral", 0), "swap": f.get("swap", 0),
                "original_name": f.get("name", ""),
                "extra_specs": dict(f.get("extra_specs") or {})}

    def server(self, s: Shown, node: NodeFacts | None,
               security_groups: list[str] | None = None,
               shape: str = "detail", server_groups: list[str] | None = None,
               ) -> dict[str, Any]:
        """``shape``: ``detail`` (a page), ``show``, ``update`` or ``rebuild``.  Below
        2.75 the last two are Nova's short view (no AZ, key, usage, groups, extended
        status or attributes; key_name in a rebuild's from 2.54); a rebuild's
        ``user_data`` is its own key from 2.57."""
        status = st.status(s.vm_state, s.task_state)
        host = node.host if node else None
        created = iso_z(s.created_at)
        full = shape in ("detail", "show") or self.v2_75
        body: dict[str, Any] = {
            "id": s.uuid, "name": s.name, "links": self.links(s.uuid),
            "status": status, "tenant_id": s.project_id, "user_id": s.user_id,
            "metadata": dict(s.meta or {}), "hostId": host_id(s.project_id, host),
            "image": {"id": s.image_ref, "links": [
                {"rel": "bookmark", "href": f"{self.image_href}{s.image_ref}"}]},
            "flavor": self._flavor(s),
            "created": created,
            "updated": iso_z(s.updated_at) if s.updated_at else created,
            "addresses": addresses(s, full),
            "accessIPv4": s.access_ip_v4 or "", "accessIPv6": s.access_ip_v6 or "",
            "OS-DCF:diskConfig": "AUTO" if s.auto_disk_config else "MANUAL",
        }
        if full:
            body.update({
                "OS-EXT-AZ:availability_zone": s.availability_zone or "",
                "config_drive": "True" if s.config_drive else "", "key_name": s.key_name,
                "OS-SRV-USG:launched_at": iso(s.launched_at),
                "OS-SRV-USG:terminated_at": iso(s.terminated_at),
                "OS-EXT-STS:task_state": s.task_state, "OS-EXT-STS:vm_state": s.vm_state,
                "OS-EXT-STS:power_state": s.power_state,
                "os-extended-volumes:volumes_attached": [],
            })
            if security_groups:  # its ports' (Nova shows the key only then)
                body["security_groups"] = [{"name": n} for n in security_groups]
        elif shape == "rebuild" and self.v2_54:
            body["key_name"] = s.key_name
        if status in PROGRESS_STATUSES:
            body["progress"] = 0
        admin = full and self.admin(s.project_id)
        if admin:
            body["OS-EXT-SRV-ATTR:host"] = host
            body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = node.uuid if node else None
            body["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{s.id:08x}"
            if self.v2_3:
                body.update({
                    "OS-EXT-SRV-ATTR:reservation_id": s.reservation_id,
                    "OS-EXT-SRV-ATTR:launch_index": s.launch_index,
                    "OS-EXT-SRV-ATTR:hostname": s.hostname, "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:root_device_name": None,
                })
                if shape != "rebuild":  # a rebuild's is its own key (2.57)
                    body["OS-EXT-SRV-ATTR:user_data"] = s.user_data
            if self.v2_16:
                body["host_status"] = _host_status(node)
        if self.v2_90:
            body["OS-EXT-SRV-ATTR:hostname"] = s.hostname
        if self.v2_9:
            body["locked"] = s.locked_by is not None
        if self.v2_19:
            body["description"] = s.description
        if self.v2_26:
            body["tags"] = list(s.tags or [])
        if self.v2_63:
            body["trusted_image_certificates"] = None
        if self.v2_71 and shape != "detail":  # Nova leaves them out of a page
            body["server_groups"] = list(server_groups or [])
        if self.v2_73:
            body["locked_reason"] = s.locked_reason
        if self.v2_96 and full:
            body["pinned_availability_zone"] = s.requested_az
        if shape == "rebuild" and self.v2_57:
            body["user_data"] = s.user_data
        fault = s.fault
        if fault and status in ("ERROR", "DELETED", "UNKNOWN"):
            shown = {k: fault.get(k) for k in ("code", "created", "message")}
            if admin or fault.get("code") != 500:
                shown["details"] = fault.get("details", "")
            body["fault"] = shown
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
