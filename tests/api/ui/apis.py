"""What the UI's tests check the views against: the service's APIs, as its admin."""

from __future__ import annotations

from typing import Any

import httpx

IRONIC = {"X-OpenStack-Ironic-API-Version": "1.78"}


def nodes(admin: httpx.Client, fields: str = "uuid,name,provision_state,maintenance"
          ) -> list[dict[str, Any]]:
    """The lab's nodes, by name."""
    r = admin.get("/baremetal/v1/nodes", params={"fields": fields})
    assert r.status_code == 200, r.text
    listed: list[dict[str, Any]] = sorted(r.json()["nodes"], key=lambda n: n["name"])
    return listed
