"""Images and members as Glance shows them (links relative to the API root, as Glance)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from barecloud.db.models import Image, ImageMember


def isotime(when: dt.datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else None


def image(img: Image, locations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``locations``: shown when the site shows them (services/image/locations.py)."""
    view: dict[str, Any] = dict(img.properties or {})
    if img.status == "killed" and img.status_reason:
        view["os_glance_failure_reason"] = img.status_reason
    view.update({
        "name": img.name, "disk_format": img.disk_format,
        "container_format": img.container_format, "visibility": img.visibility,
        "size": img.size, "virtual_size": img.virtual_size, "status": img.status,
        "checksum": img.checksum, "protected": img.protected, "min_ram": img.min_ram,
        "min_disk": img.min_disk, "owner": img.owner, "os_hidden": img.os_hidden,
        "os_hash_algo": img.os_hash_algo, "os_hash_value": img.os_hash_value,
        "id": img.uuid, "created_at": isotime(img.created_at),
        "updated_at": isotime(img.updated_at or img.created_at),
        "tags": sorted(t.tag for t in img.tags),
        "self": f"/v2/images/{img.uuid}", "file": f"/v2/images/{img.uuid}/file",
        "schema": "/v2/schemas/image",
    })
    if locations is not None:
        view["locations"] = locations
    return view


def member(img: Image, m: ImageMember) -> dict[str, Any]:
    return {
        "created_at": isotime(m.created_at), "image_id": img.uuid, "member_id": m.member,
        "schema": "/v2/schemas/member", "status": m.status,
        "updated_at": isotime(m.updated_at or m.created_at),
    }
