"""Agent tokens: one per ramdisk boot, and only its digest on the node row.

The token reaches the machine once: in the one-time boot script of a boot
interface that ``delivers_token`` (ipxe), else at the agent's first lookup
(Ironic's model).  The database keeps the SHA-256 of it, so neither a copy of
the database nor an API reader learns a usable token.  See
docs/design/provisioning.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from barecloud.drivers import hardware
from barecloud.errors import InvalidParameter

# Whether the token went out (script written or lookup answered) is the agent
# row's ``token_delivered`` (db/models.NodeAgent): lookup hands out none after.


def new() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the node row keeps (64 hex characters: the column's size)."""
    return hashlib.sha256(token.encode()).hexdigest()


def matches(stored: str | None, token: Any) -> bool:
    """Whether ``token`` is the one whose digest is ``stored`` (constant time)."""
    if not stored or not isinstance(token, str) or not token:
        return False
    return hmac.compare_digest(stored, digest(token))


def boot_delivers(driver: str, boot_interface: str | None) -> bool:
    """Whether the node's boot interface hands the token to the machine itself."""
    try:
        impl = hardware.hardware_type(driver).check("boot", boot_interface)
        return bool(getattr(hardware.interface("boot", impl), "delivers_token", False))
    except InvalidParameter:  # an unknown driver: no token at lookup either
        return True
