"""Identity's first data and the clouds.yaml that hands it to the clients.

Every API process runs the bootstrap at start (it is idempotent, and one
process at a time per data directory does it); the clouds.yaml it writes is
what ``openstack`` and the ``barecloud`` client commands read.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from barecloud.config import Settings
from barecloud.db.identity_models import DEFAULT_DOMAIN
from barecloud.db.session import Database
from barecloud.services.identity import bootstrap, fernet
from barecloud.services.identity.bootstrap import Account

log = logging.getLogger("barecloud")


def clouds_yaml_path(settings: Settings) -> Path:
    return settings.data_dir / "clouds.yaml"


def _noauth_cloud(settings: Settings) -> dict[str, Any]:
    base = settings.base_url
    return {
        "auth_type": "none",
        "baremetal_endpoint_override": f"{base}/baremetal",
        # Unversioned, as Glance's catalog entry: clients discover v2 there.
        "image_endpoint_override": f"{base}/image",
        # Versioned, so clients need no catalog to find Nova's v2.1.
        "compute_endpoint_override": f"{base}/compute/v2.1",
        # Unversioned, as Neutron's catalog entry: clients add v2.0 themselves.
        "network_endpoint_override": f"{base}/network",
        # Versioned: python-blazarclient appends /leases to it, no discovery.
        "reservation_endpoint_override": f"{base}/reservation/v1",
        # `openstack image ...` and `flavor create` build an identity client (for
        # --project) and fail without one to discover; Identity's version
        # documents answer without a token.
        "identity_endpoint_override": f"{base}/identity/v3",
        "region_name": "RegionOne",
    }


def _password_cloud(settings: Settings, account: Account, password: str | None) -> dict[
        str, Any]:
    auth: dict[str, Any] = {
        "auth_url": f"{settings.base_url}/identity",
        "username": account.user,
        "project_name": account.project,
        "user_domain_id": DEFAULT_DOMAIN,
        "project_domain_id": DEFAULT_DOMAIN,
    }
    if password is not None:
        auth["password"] = password
    return {"auth_type": "password", "auth": auth, "region_name": "RegionOne",
            "identity_api_version": 3}


def _known_passwords(path: Path) -> dict[str, str]:
    """username -> password from the clouds.yaml written before (passwords are set
    once, when the bootstrap creates the users)."""
    try:
        clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    known = {}
    for cloud in clouds.values():
        auth = cloud.get("auth") if isinstance(cloud, dict) else None
        if isinstance(auth, dict) and auth.get("username") and auth.get("password"):
            known[str(auth["username"])] = str(auth["password"])
    return known


def write_clouds_yaml(settings: Settings, accounts: dict[str, Account] | None = None) -> Path:
    """The clouds.yaml for the ``openstack`` CLI and openstacksdk (mode 0600).

    keystone: clouds ``barecloud`` (demo, member of project demo) and
    ``barecloud-admin`` (admin of project admin); noauth: ``barecloud``.
    """
    path = clouds_yaml_path(settings)
    if settings.auth_strategy == "noauth" or not accounts:
        clouds = {"barecloud": _noauth_cloud(settings)}
    else:
        known = _known_passwords(path)
        clouds = {}
        for cloud, user in (("barecloud", "demo"), ("barecloud-admin", "admin")):
            account = accounts[user]
            password = account.password or known.get(user)
            if password is None:
                log.warning("the password of %s is not known: it is left out of %s", user, path)
            clouds[cloud] = _password_cloud(settings, account, password)
    text = yaml.safe_dump({"clouds": clouds}, sort_keys=False)
    tmp = path.with_name(f".clouds.yaml.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


async def bootstrap_identity(settings: Settings, db: Database) -> Path:
    """Identity's first data (idempotent), then clouds.yaml; one process at a time
    per data directory."""
    lock = settings.data_dir / ".bootstrap.lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        accounts = await bootstrap.run(db, accounts=settings.auth_strategy == "keystone")
        fernet.load(settings.data_dir)  # the token keys, created on the first start
        return write_clouds_yaml(settings, accounts)
