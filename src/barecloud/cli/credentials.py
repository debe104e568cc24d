"""A token for the operator commands: ``--token``/OS_TOKEN, or a cloud of clouds.yaml.

With ``--cloud``/OS_CLOUD the password of that cloud (in OS_CLIENT_CONFIG_FILE,
./clouds.yaml, ~/.config/openstack/clouds.yaml or /etc/openstack/clouds.yaml,
as openstacksdk looks) is exchanged for a token at its ``auth_url``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import yaml


class CredentialsError(Exception):
    pass


class Unreachable(CredentialsError):
    """The cloud's Identity API did not answer (down, wrong address)."""


def _clouds_files() -> list[Path]:
    named = os.environ.get("OS_CLIENT_CONFIG_FILE")
    if named:
        return [Path(named)]
    return [Path("clouds.yaml"), Path.home() / ".config/openstack/clouds.yaml",
            Path("/etc/openstack/clouds.yaml")]


def _cloud(name: str) -> dict[str, Any]:
    for path in _clouds_files():
        if path.is_file():
            clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
            if name in clouds:
                return dict(clouds[name])
    raise CredentialsError(f"no cloud {name!r} in {', '.join(map(str, _clouds_files()))}")


def _scope(auth: dict[str, Any]) -> dict[str, Any]:
    project: dict[str, Any] = {}
    if auth.get("project_id"):
        project["id"] = auth["project_id"]
    elif auth.get("project_name"):
        project = {"name": auth["project_name"], "domain": (
            {"id": auth["project_domain_id"]} if auth.get("project_domain_id")
            else {"name": auth.get("project_domain_name", "Default")})}
    return {"project": project} if project else {}


def token_for_cloud(name: str) -> str | None:
    """Authenticate as cloud ``name`` (auth_type password) and return the token; None
    for a cloud without authentication (auth_type none, barecloud's noauth)."""
    cloud = _cloud(name)
    if cloud.get("auth_type") == "none":
        return None
    auth = cloud.get("auth") or {}
    if not auth.get("auth_url") or not auth.get("username") or not auth.get("password"):
        raise CredentialsError(f"cloud {name!r} has no auth_url, username and password")
    user: dict[str, Any] = {"name": auth["username"], "password": auth["password"],
                            "domain": ({"id": auth["user_domain_id"]}
                                       if auth.get("user_domain_id")
                                       else {"name": auth.get("user_domain_name", "Default")})}
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"],
                                                  "password": {"user": user}}}}
    if scope := _scope(auth):
        body["auth"]["scope"] = scope
    url = str(auth["auth_url"]).rstrip("/")
    if not url.endswith("/v3"):
        url += "/v3"
    try:
        rsp = httpx.post(f"{url}/auth/tokens", json=body, timeout=30)
    except httpx.TransportError as exc:
        raise Unreachable(f"cloud {name!r}: cannot reach {url}: "
                               f"{exc or type(exc).__name__}") from None
    if rsp.status_code != 201:
        raise CredentialsError(f"cloud {name!r}: authentication failed (HTTP "
                               f"{rsp.status_code})")
    return rsp.headers["X-Subject-Token"]


def service_url_for_cloud(name: str) -> str:
    """barecloud's root URL, from cloud ``name``'s auth_url (``<root>/identity[/v3]``),
    or without one (noauth) from its Bare Metal endpoint (``<root>/baremetal``)."""
    cloud = _cloud(name)
    url = str((cloud.get("auth") or {}).get("auth_url") or "").rstrip("/")
    for suffix in ("/v3", "/identity"):
        url = url.removesuffix(suffix)
    if not url:
        url = str(cloud.get("baremetal_endpoint_override") or "").rstrip("/")
        url = url.removesuffix("/v1").removesuffix("/baremetal")
    if not url:
        raise CredentialsError(f"cloud {name!r} has no auth_url")
    return url
