"""An image's locations (Glance's ``show_multiple_locations``), managed by JSON patch.

Off by default, as Glance's option.  When on (``image_show_multiple_locations``),
an image shows ``locations``: first the store's own file when the image has
data there (``file://...``), then the http(s) URLs its owner's members added:
Glance's read-only http store.  A URL is accepted only if it answers with a
size (the service asks it, as Glance's store does); adding one to a ``queued``
image makes it ``active`` with that size and the hashes the location's
``validation_data`` gives, none computed.  ``GET /file`` of an image without
data of its own streams its first location.  Rules and answers are Glance's
(``_do_add_locations``/``_do_replace_locations``/``_do_remove_locations`` and
the locations proxy): see docs/design/image-api.md, "Locations".
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema

from barecloud.config import Settings
from barecloud.db.models import Image
from barecloud.errors import ClientError, Conflict, Forbidden, InvalidParameter
from barecloud.services import policy
from barecloud.services.context import RequestContext
from barecloud.services.image import store as image_store

SCHEMES = ("http", "https")
HASH_ALGO = "sha512"  # Glance's hashing_algorithm, what barecloud computes
SIZE_TIMEOUT = 10.0

LOCATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "maxLength": 255},
        "metadata": {"type": "object"},
        "validation_data": {
            "type": "object", "additionalProperties": False,
            "properties": {
                "checksum": {"type": "string", "minLength": 32, "maxLength": 32},
                "os_hash_algo": {"type": "string", "maxLength": 64},
                "os_hash_value": {"type": "string", "maxLength": 128},
            },
            "required": ["os_hash_algo", "os_hash_value"],
        },
    },
    "required": ["url", "metadata"],
}
_CHECK = jsonschema.Draft4Validator({"type": "array", "items": LOCATION})


class ImageTooLarge(ClientError):
    code = 413


@dataclass(frozen=True)
class Outcome:
    """What a patch's location changes leave: the external list, whether the store's
    own data stays, and the attributes to set on the image."""

    external: list[dict[str, Any]]
    keep_local: bool
    values: dict[str, Any]


def has_local(image: Image) -> bool:
    """The image's data is in barecloud's store (an upload or an import)."""
    return image.raw_sha512 is not None and image.status in ("active", "deactivated")


def local_url(settings: Settings, image: Image) -> str:
    return f"file://{image_store.data_path(settings, image.uuid)}"


def current(settings: Settings, image: Image) -> list[dict[str, Any]]:
    own = [{"url": local_url(settings, image), "metadata": {}}] if has_local(image) else []
    return own + [dict(loc) for loc in image.locations or []]


def shown(settings: Settings, ctx: RequestContext, image: Image) -> list[dict[str, Any]] | None:
    """``locations`` as the requester sees them (None: not shown at this site); Glance
    shows them to admins and the owner's readers, ``[]`` to others."""
    if not settings.image_show_multiple_locations:
        return None
    if not policy.can(ctx, "image:get_image_location", {"owner": image.owner}):
        return []
    return current(settings, image)


def _position(index: str | None, length: int, allow_end: bool) -> int | None:
    """Glance's ``_get_locations_op_pos``: a digit or ``-`` (the end)."""
    if index is None:
        return None
    pos = length if allow_end else length - 1
    if index.isdigit():
        pos = int(index)
    elif index != "-":
        return None
    if allow_end:
        return pos if 0 <= pos <= length else None
    return pos if 0 <= pos < length else None


def _check_shape(value: Any) -> list[dict[str, Any]]:
    error = next(iter(_CHECK.iter_errors(value)), None)
    if error is not None:
        raise InvalidParameter(f"Invalid locations: {error.message}")
    checked: list[dict[str, Any]] = value
    return checked


def _validation_data(image: Image, locations: list[dict[str, Any]]) -> dict[str, Any]:
    """Glance's ``_validate_validation_data``: the hashes to set (409 on a conflict)."""
    given: dict[str, Any] = {}
    for loc in locations:
        for key, value in (loc.get("validation_data") or {}).items():
            if given.get(key, value) != value:
                raise Conflict(f"Conflicting values for {key}")
            given[key] = value
    new = {}
    for key, value in given.items():
        now = getattr(image, key)
        if value == now:
            continue
        if now:
            raise Conflict(f"{key} is already set with a different value")
        new[key] = value
    if not new:
        return {}
    if image.status != "queued":
        raise Conflict(f"New value(s) for {', '.join(new)} may only be provided when image "
                       "status is 'queued'")
    if "checksum" in new and not _hex_of(new["checksum"], 16):
        raise Conflict(f"checksum ({new['checksum']}) is not the correct size for md5 "
                       "(should be 16 bytes)")
    algo = new.get("os_hash_algo")
    if algo != HASH_ALGO:
        raise Conflict(f"os_hash_algo must be {HASH_ALGO}, not {algo}")
    value = new.get("os_hash_value", "")
    if not _hex_of(value, hashlib.new(HASH_ALGO).digest_size):
        raise Conflict(f"os_hash_value ({value}) is not the correct size for {HASH_ALGO} "
                       f"(should be {hashlib.new(HASH_ALGO).digest_size} bytes)")
    return new


def _hex_of(value: str, size: int) -> bool:
    try:
        return len(bytes.fromhex(value)) == size
    except ValueError:
        return False


async def remote_size(settings: Settings, url: str) -> int:
    """The size an http(s) location answers for (Glance's http store); 400 if none, or
    if the site's filter (:func:`filtered`) does not let the service ask it."""
    invalid = InvalidParameter("Invalid location")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise invalid
    try:
        filtered(settings, url, "a location")
    except InvalidParameter:
        raise invalid from None
    try:
        async with httpx.AsyncClient(timeout=SIZE_TIMEOUT, follow_redirects=True) as client:
            answer = await client.head(url)
    except httpx.HTTPError:
        raise invalid from None
    size = answer.headers.get("content-length", "")
    if answer.status_code != 200 or not size.isdigit() or int(size) <= 0:
        raise invalid
    return int(size)


def filtered(settings: Settings, uri: Any, purpose: str) -> str:
    """``uri`` if the site lets the service fetch it (Glance's ``[import_filtering_opts]``:
    a scheme, host and port allowed), else 400 "... does not pass filtering"."""
    refused = InvalidParameter(f"URI for {purpose} does not pass filtering: {uri}")
    if not isinstance(uri, str):
        raise refused
    try:
        parts = urlsplit(uri)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        raise refused from None
    host = parts.hostname or ""
    allowed_hosts = settings.image_import_allowed_hosts
    if (parts.scheme not in settings.image_import_allowed_schemes or not host
            or (allowed_hosts and host not in allowed_hosts)
            or host in settings.image_import_disallowed_hosts
            or port not in settings.image_import_allowed_ports):
        raise refused
    return uri


def _strip(loc: dict[str, Any]) -> dict[str, Any]:
    return {"url": loc["url"], "metadata": loc["metadata"]}


async def apply(settings: Settings, ctx: RequestContext, image: Image,
                changes: list[tuple[str, str | None, Any]]) -> Outcome:
    """The outcome of ``(op, index, value)`` location changes on ``image``, in order;
    nothing is written here."""
    if not settings.image_show_multiple_locations:
        raise Forbidden("It's not allowed to update locations if locations are invisible.")
    own = local_url(settings, image)
    before = current(settings, image)
    locs = [dict(loc) for loc in before]
    values: dict[str, Any] = {}
    status = image.status
    for op, index, value in changes:
        if op == "replace" and index is not None:  # the whole list is replaced, or nothing
            raise InvalidParameter(f"Invalid JSON pointer for this resource: '/locations/{index}'")
        if op == "remove":
            policy.authorize(ctx, "image:delete_image_location", {"owner": image.owner})
            if status != "active":
                raise Conflict("It's not allowed to remove locations if image status is "
                               f"{status}.")
            if len(locs) == 1:
                raise Forbidden("Cannot remove last location in the image.")
            pos = _position(index, len(locs), allow_end=False)
            if pos is None:
                raise InvalidParameter("Invalid position for removing a location.")
            locs.pop(pos)
            continue
        policy.authorize(ctx, "image:set_image_location", {"owner": image.owner})
        if status not in ("active", "queued"):
            verb = "replace" if op == "replace" else "add"
            raise Conflict(f"It's not allowed to {verb} locations if image status is "
                           f"{status}.")
        if op == "replace":
            given = _check_shape(value)
            found = _validation_data(image, given)
            old_urls, new_urls = sorted(x["url"] for x in locs), sorted(x["url"] for x in given)
            if locs and old_urls != new_urls:
                raise InvalidParameter(f"Original locations is not empty: {locs}")
            if old_urls != new_urls:
                await _check_new(settings, given, [])
                if not image.size:
                    values["size"] = (await remote_size(settings, given[0]["url"])
                                      if given else None)
            locs = [_strip(x) for x in given]
        else:
            given = _check_shape([value])
            found = _validation_data(image, given)
            pos = _position(index, len(locs), allow_end=True)
            if pos is None:
                raise InvalidParameter("Invalid position for adding a location.")
            size = await _check_new(settings, given, locs)
            if not image.size and not values.get("size"):
                values["size"] = size
            locs.insert(pos, _strip(given[0]))
        if status == "queued" and locs:
            values.update(found)
            for key, val in found.items():
                setattr(image, key, val)  # later validation_data compares with these
            values["status"] = status = "active"
    keep_local = any(x["url"] == own for x in locs)
    if has_local(image) and not keep_local and len(locs) == 0:
        raise Forbidden("Cannot remove last location in the image.")
    return Outcome([x for x in locs if x["url"] != own], keep_local, values)


async def _check_new(settings: Settings, given: list[dict[str, Any]],
                     existing: list[dict[str, Any]]) -> int:
    """Each new location answers with a size and is not there already; the first size."""
    sizes = []
    for loc in given:
        if any(x["url"] == loc["url"] and x["metadata"] == loc["metadata"]
               for x in [*existing, *(g for g in given if g is not loc)]):
            raise InvalidParameter(f"The location {loc['url']} already exists")
        sizes.append(await remote_size(settings, loc["url"]))
    return sizes[0] if sizes else 0


async def stream(url: str, limit: int | None = None) -> AsyncIterator[bytes]:
    """The data of an http(s) location, in the pieces it arrives in; more than ``limit``
    bytes (the site's ``image_size_cap``, for a download into the store) is refused."""
    received = 0
    async with (httpx.AsyncClient(timeout=SIZE_TIMEOUT, follow_redirects=True) as client,
                client.stream("GET", url) as answer):
        if answer.status_code != 200:
            raise InvalidParameter(f"The image's location answered {answer.status_code}.")
        async for chunk in answer.aiter_bytes():
            received += len(chunk)
            if limit is not None and received > limit:
                raise ImageTooLarge(f"The image at {url} is too large: at most {limit} bytes "
                                    "are accepted (image_size_cap).")
            yield chunk
