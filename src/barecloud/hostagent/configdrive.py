"""The files of a VM's config drive, from its desired entry's ``config_drive``.

The service sends the contents (``meta_data`` and ``network_data`` as JSON,
``user_data`` as text); the drive is laid out as the ramdisk agent lays out
a bare-metal server's (:func:`barecloud.agent.configdrive.lay_out`, with the
dated copy cloud-init looks for), so a VM and a server of one image boot the
same way.  The driver turns the files into the ``config-2`` ISO.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from barecloud.agent import configdrive

LATEST = configdrive.LATEST


class ConfigDriveError(ValueError):
    """A ``config_drive`` entry that is not what the contract says."""


def files(entry: Mapping[str, Any] | None) -> dict[str, bytes]:
    """Path → content of the drive described by ``entry``."""
    entry = entry or {}
    meta = entry.get("meta_data") or {}
    if not isinstance(meta, dict):
        raise ConfigDriveError("config_drive.meta_data must be an object")
    out = {LATEST + "meta_data.json": _json(meta)}
    user_data = entry.get("user_data")
    if user_data is not None:
        if not isinstance(user_data, str):
            raise ConfigDriveError("config_drive.user_data must be text")
        out[LATEST + "user_data"] = user_data.encode()
    network = entry.get("network_data")
    if network is not None:
        if not isinstance(network, dict):
            raise ConfigDriveError("config_drive.network_data must be an object")
        out[LATEST + "network_data.json"] = _json(network)
    return configdrive.lay_out(out)


def digest(entry: Mapping[str, Any] | None) -> str:
    """A short digest of ``entry``, to tell a changed config drive (a rebuild) from
    the same one sent again."""
    canonical = json.dumps(entry or {}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def hostname(drive: Mapping[str, bytes], default: str) -> str:
    """The hostname the guest will take from the drive (cloud-init's choice)."""
    try:
        meta = json.loads(drive.get(LATEST + "meta_data.json", b"{}"))
    except ValueError:
        return default
    name = meta.get("hostname") or meta.get("name") if isinstance(meta, dict) else None
    return str(name).split(".")[0] if name else default


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=None, separators=(",", ":")).encode()
