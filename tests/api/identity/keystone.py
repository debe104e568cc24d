"""A small httpx client for barecloud's Identity API, and checks of Keystone's error body."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import asyncpg
import httpx

from tests.support import Service


def error(response: httpx.Response, status: int) -> str:
    """Assert ``response`` is Keystone's error for ``status``; return its message."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "title", "message"}, body
    assert body["error"]["code"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["message"])


def password(user: dict[str, Any], secret: str, scope: Any = None) -> dict[str, Any]:
    """A password-method auth body; ``user`` is {"id"} or {"name", "domain"}."""
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {
        "user": {**user, "password": secret}}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


class Keystone:
    """Requests to /identity/v3 with a token (the admin's unless told)."""

    def __init__(self, svc: Service, token: str | None = None) -> None:
        self.svc = svc
        self.token = token if token is not None else svc.token()
        self.http = httpx.Client(base_url=svc.identity, timeout=60)

    def request(self, method: str, path: str, *, token: str | None = None,
                **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        use = token if token is not None else self.token
        if use:
            headers.setdefault("X-Auth-Token", use)
        return self.http.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        rsp = self.request(method, path, **kwargs)
        assert rsp.status_code == status, (method, path, rsp.status_code, rsp.text)
        return rsp.json() if rsp.content else None

    def issue(self, body: dict[str, Any], status: int = 201) -> tuple[str, dict[str, Any]]:
        """POST /auth/tokens (no X-Auth-Token); the token id and its body."""
        rsp = self.http.post("/auth/tokens", json=body)
        assert rsp.status_code == status, rsp.text
        return rsp.headers.get("X-Subject-Token", ""), rsp.json()

    def ids(self) -> dict[str, str]:
        """Ids of the bootstrap's users, projects and roles, by name."""
        out: dict[str, str] = {}
        for kind in ("users", "projects", "roles"):
            for item in self.ok("GET", f"/{kind}")[kind]:
                out[f"{kind[:-1]}:{item['name']}"] = item["id"]
        return out

    def stored(self, query: str, ident: str) -> Any:
        """One value as the database holds it, read with its own client: ``query``
        ends in ``WHERE <column> = `` and ``ident`` completes it."""
        url = self.svc.env.get("BARECLOUD_DATABASE_URL")
        if url is None:
            with sqlite3.connect(self.svc.data_dir / "barecloud.sqlite") as db:
                row = db.execute(f"{query}?", (ident,)).fetchone()
            return None if row is None else row[0]

        async def read() -> Any:
            conn = await asyncpg.connect(url.replace("+asyncpg", ""))
            try:
                return await conn.fetchval(f"{query}$1", ident)
            finally:
                await conn.close()

        return asyncio.run(read())

    def close(self) -> None:
        self.http.close()
