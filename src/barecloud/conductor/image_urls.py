"""Signed image URLs: ``/boot/images/<id>`` serves bytes only to the node deploying them.

Swift temporary URLs' model, as Ironic uses them: the conductor puts
``?node=<uuid>&expires=<unix time>&signature=<hex>`` on the image URL of a
``write_image`` command when it issues it, the signature an HMAC-SHA256 of
``"<image id>\\n<node uuid>\\n<expires>"`` under a key only the service's
processes read (``<data_dir>/keys/boot-url.key``, 32 random bytes, mode 0600
in a 0700 directory, made on first use; every API and conductor process of a
deployment shares the data directory).  The API checks it, then that the
node still deploys that image.  Nothing is stored: the URL exists only in
the command, which only the machine's agent reads.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from barecloud import keyfiles
from barecloud.config import Settings
from barecloud.drivers.base import AgentCommand

KEY_BYTES = 32
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_EXPIRES = re.compile(r"[0-9]{1,12}")
_IMAGE_PATH = re.compile(r"/boot/images/([^/?#]+)")
_keys: dict[Path, bytes] = {}
_resolved: dict[Path, Path] = {}  # data_dir as given → resolved (a syscall a lookup)


def key_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "boot-url.key"


def load_key(data_dir: Path) -> bytes:
    """The deployment's key, made on first use (and cached per process)."""
    path = _resolved.get(data_dir)
    if path is None:
        path = _resolved[data_dir] = key_path(data_dir.resolve())
    key = _keys.get(path)
    if key is None:
        if not path.exists():
            keyfiles.create_once(path, secrets.token_bytes(KEY_BYTES))
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise RuntimeError(f"{path} must hold {KEY_BYTES} bytes, not {len(key)}")
        _keys[path] = key
    return key


def signature(key: bytes, image_id: str, node_uuid: str, expires: int) -> str:
    message = f"{image_id}\n{node_uuid}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_url(key: bytes, base_url: str, image_id: str, node_uuid: str, expires: int) -> str:
    query = urllib.parse.urlencode({"node": node_uuid, "expires": expires,
                                    "signature": signature(key, image_id, node_uuid, expires)})
    return f"{base_url}/boot/images/{image_id}?{query}"


def sign_command(settings: Settings, node_uuid: str, instance_info: dict[str, Any],
                 command: AgentCommand) -> AgentCommand:
    """``command`` with its image URL signed for ``node_uuid``, when it is a write_image
    of the Glance image the deploy resolved (``image_source``) from this service's
    image server.  An external http(s) image is left alone (its owner's business), and
    so is a ``/boot/images/`` URL the user wrote in: it would open any image.  The URL
    lasts the deploy's wait plus :attr:`Settings.image_url_margin`, for Range resumes
    late in a slow write.  Signing again renews it."""
    url = command.params.get("url")
    if command.name != "write_image" or not isinstance(url, str):
        return command
    image_id = served_image(settings.base_url, url)
    if image_id is None or image_id.lower() != str(instance_info.get("image_source")).lower():
        return command
    expires = int(time.time() + settings.deploy_callback_timeout + settings.image_url_margin)
    key = load_key(settings.data_dir)
    return replace(command, params={
        **command.params,
        "url": signed_url(key, settings.base_url, image_id, node_uuid, expires)})


def served_image(base_url: str, url: str) -> str | None:
    """The image id of ``url`` if it is this service's ``/boot/images/<id>``."""
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.urlsplit(base_url)
    match = _IMAGE_PATH.fullmatch(parts.path)
    if match is None or (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
        return None
    return urllib.parse.unquote(match.group(1))


@dataclass(frozen=True)
class Grant:
    """What a valid signature allows: ``image_id``'s bytes to ``node_uuid``."""

    image_id: str
    node_uuid: str
    expires: int


class Refused(Exception):
    """The URL's signature is missing, wrong or expired (the message says which, and
    nothing of the image)."""


def check(key: bytes, image_id: str, node: str | None, expires: str | None,
          sig: str | None, now: float | None = None) -> Grant:
    """The grant of a request's query, or :class:`Refused`."""
    if not node or not expires or not sig:
        raise Refused("This image URL needs node, expires and signature: only the URL "
                      "of a node's write_image command serves the image.")
    if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(sig):
        raise Refused("The image URL's signature is not valid.")
    if not hmac.compare_digest(signature(key, image_id, node, int(expires)), sig):
        raise Refused("The image URL's signature is not valid.")
    if int(expires) < (time.time() if now is None else now):
        raise Refused("The image URL has expired.")
    return Grant(image_id, node, int(expires))
