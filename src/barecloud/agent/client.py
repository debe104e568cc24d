"""The agent's side of the HTTP protocol with the service (``/baremetal/v1``).

The agent only ever calls out (lookup, heartbeat, long-poll, report), so a
machine behind NAT deploys the same.  Connection errors and 5xx are retried
with backoff for as long as it takes: the service may restart, and the
conductor's deadline is what gives up on a machine, not the machine.  A 401
is raised (:class:`Unauthorized`) for the caller to fix or stop on.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from barecloud import __version__

API_VERSION = "1.22"
PREFIX = "/baremetal/v1"
MAX_BACKOFF = 15.0
TIMEOUT = 30.0

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Unauthorized(ApiError):
    """The service refused the agent token (401)."""


class NotFound(ApiError):
    """No such node, or none that answers a lookup yet (404)."""


class Conflict(ApiError):
    """The command is not the node's current one any more (409)."""


class Client:
    """Calls to the service; thread-safe (heartbeats run in their own thread)."""

    def __init__(self, base_url: str, token: str | None = None, *,
                 max_backoff: float = MAX_BACKOFF) -> None:
        base = base_url.rstrip("/")
        for suffix in (PREFIX, "/baremetal"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        self.base_url = base
        self.token = token
        self.max_backoff = max_backoff
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._stop = threading.Event()

    def close(self) -> None:
        """Make retry loops in other threads give up."""
        self._stop.set()

    # -- the calls ---------------------------------------------------------

    def lookup(self, macs: Iterable[str]) -> dict[str, Any]:
        """The node these MACs belong to, retried until the service knows it."""
        macs = list(macs)
        delay = 1.0
        while True:
            try:
                found = self.call("GET", self.lookup_path(macs))
            except NotFound:
                log.info("lookup: no node in a deploy/clean/inspect state has %s yet; "
                         "retrying in %.0f s", ", ".join(macs), delay)
            else:
                if isinstance(found, dict) and isinstance(found.get("node"), dict):
                    return found
                log.warning("lookup: unexpected answer %r", found)
            if self._stop.wait(delay):
                raise ApiError(0, "stopped")
            delay = min(delay * 2, self.max_backoff)

    @staticmethod
    def lookup_path(macs: Iterable[str]) -> str:
        return "/lookup?" + urllib.parse.urlencode({"addresses": ",".join(macs)})

    def heartbeat(self, node_uuid: str, callback_url: str = "") -> None:
        """``callback_url``: where this agent's chain server answers (agent/chain.py)."""
        self.call("POST", f"/heartbeat/{node_uuid}", {
            "agent_token": self.token, "agent_version": __version__,
            "callback_url": callback_url,
        }, retry=False)

    def next_command(self, node_uuid: str, wait: float) -> dict[str, Any] | None:
        """The node's pending command, or None after ``wait`` seconds without one."""
        answer = self.call("GET", f"/agent/{node_uuid}/command?wait={wait:g}",
                           timeout=wait + TIMEOUT)
        command = answer.get("command") if isinstance(answer, dict) else None
        return command if isinstance(command, dict) else None

    def report(self, node_uuid: str, command_id: str, status: str, *,
               progress: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
               error: str | None = None, retry: bool = True) -> None:
        body: dict[str, Any] = {"status": status}
        if progress is not None:
            body["progress"] = progress
        if result is not None:
            body["result"] = result
        if error is not None:
            body["error"] = error
        self.call("POST", f"/agent/{node_uuid}/command/{command_id}", body, retry=retry)

    # -- transport ---------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, *, retry: bool = True,
             timeout: float = TIMEOUT) -> Any:
        """One API call, retried on connection errors and 5xx when ``retry``."""
        delay = 0.5
        while True:
            try:
                return self._once(method, path, body, timeout)
            except ApiError as exc:
                if exc.status < 500 or not retry:
                    raise
                problem = str(exc)
            except (OSError, http.client.HTTPException) as exc:
                if not retry:
                    raise ApiError(0, f"{method} {path}: {exc}") from None
                problem = repr(exc)
            log.warning("%s %s: %s; retrying in %.1f s", method, path.split("?")[0], problem,
                        delay)
            if self._stop.wait(delay):
                raise ApiError(0, "stopped")
            delay = min(delay * 2, self.max_backoff)

    def _once(self, method: str, path: str, body: Any, timeout: float) -> Any:
        headers = {"X-OpenStack-Ironic-API-Version": API_VERSION,
                   "Accept": "application/json", "User-Agent": f"barecloud-agent/{__version__}"}
        if self.token:
            headers["X-Agent-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + PREFIX + path, data=data,
                                         headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                message = _error_message(exc.read())
            kind = {401: Unauthorized, 404: NotFound, 409: Conflict}.get(exc.code, ApiError)
            raise kind(exc.code, message or str(exc.reason)) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(502, f"{method} {path}: not JSON: {raw[:200]!r}") from None


def _error_message(raw: bytes) -> str:
    """The message of an Ironic error body (``{"error_message": ...}``, maybe nested)."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw[:500].decode("utf-8", errors="replace")
    while isinstance(body, dict) and "error_message" in body:
        inner = body["error_message"]
        if isinstance(inner, str):
            try:
                body = json.loads(inner)
                continue
            except ValueError:
                return inner
        body = inner
    if isinstance(body, dict):
        return str(body.get("faultstring") or body.get("detail") or body)
    return str(body)
