"""ASGI middleware: who is asking, decided once per request from X-Auth-Token.

With ``auth_strategy = "keystone"`` every request but the public ones below
needs a valid token, else 401 in the error body of the service the path
belongs to, with ``WWW-Authenticate: Keystone uri="<base>/identity"``; the
token's context goes to ``request.state.context`` (``api.common.context``).
With ``"noauth"`` every request is the admin of ``NOAUTH_PROJECT``.

Public: version documents, ``POST /identity/v3/auth/tokens``, ``/boot/``
(firmware cannot log in), the agent's endpoints (it proves itself with
the per-deploy agent token), the operator's probes, metrics and API
documentation (api/ops.py, api/docs.py; /metrics needs a token with
``metrics_require_auth``), and the browser's files under /ui/ (api/ui: the
page logs in itself, or carries a console token).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from barecloud.api.baremetal.errors import error_response as ironic_error
from barecloud.api.common import JSONResponse, new_request_id
from barecloud.api.compute.errors import error_response as nova_error
from barecloud.api.identity.errors import error_response as keystone_error
from barecloud.api.image.errors import error_response as glance_error
from barecloud.api.network.errors import error_response as neutron_error
from barecloud.api.reservation.errors import error_response as blazar_error
from barecloud.config import Settings
from barecloud.errors import BarecloudError
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity.subjects import AUTH_FAILED
from barecloud.services.identity.tokens import tokens_of

VERSION_DOCUMENTS = frozenset({
    "/",
    "/identity", "/identity/", "/identity/v3", "/identity/v3/",
    "/baremetal", "/baremetal/", "/baremetal/v1", "/baremetal/v1/",
    "/image", "/image/", "/image/versions",
    "/compute", "/compute/", "/compute/v2", "/compute/v2/", "/compute/v2.1", "/compute/v2.1/",
    "/network", "/network/",
    "/reservation", "/reservation/", "/reservation/v1", "/reservation/v1/",
})
AGENT_PREFIXES = ("/baremetal/v1/heartbeat/", "/baremetal/v1/agent/",
                  "/compute/barecloud-host-agent/")
OPS_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/openapi.json", "/ui"})


def public(method: str, path: str, *, metrics: bool = True) -> bool:
    """Whether ``path`` is served without a token (``metrics``: /metrics is)."""
    if path in VERSION_DOCUMENTS or path.startswith("/boot/"):
        return True
    if path in OPS_PATHS or path.startswith(("/docs/static/", "/ui/")):
        return True
    if path == "/metrics":
        return metrics
    if path == "/identity/v3/auth/tokens":
        return method == "POST"
    if path in ("/baremetal/v1/lookup", "/baremetal/v1/continue_inspection") or \
            path.startswith(AGENT_PREFIXES):
        return True
    # Glance answers its versions for any /image/<x> that names no version.
    return path.startswith("/image/") and path.split("/")[2] != "v2"


def error_for(path: str) -> Callable[[int, str], JSONResponse]:
    """The error body of the service ``path`` belongs to (Ironic's by default)."""
    service = path.split("/", 2)[1]
    return {"identity": keystone_error, "image": glance_error, "compute": nova_error,
            "network": neutron_error, "reservation": blazar_error}.get(service, ironic_error)


def challenge(settings: Settings) -> str:
    """The WWW-Authenticate of a 401: where to get a token (keystonemiddleware's)."""
    return f'Keystone uri="{settings.base_url}/identity"'


class Authenticate:
    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self.keystone = rt.settings.auth_strategy == "keystone"
        self.challenge = challenge(rt.settings)
        self.public_metrics = not rt.settings.metrics_require_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        rid = state.get("request_id") or new_request_id()
        if not self.keystone:
            state["context"] = RequestContext.noauth(rid)
        elif not public(scope["method"], scope["path"], metrics=self.public_metrics):
            token = _header(scope, b"x-auth-token")
            if not token:
                await self._refuse(scope, receive, send, 401, AUTH_FAILED)
                return
            try:
                state["context"] = await tokens_of(self.rt).context(token, rid)
            except BarecloudError as exc:
                await self._refuse(scope, receive, send, exc.code, exc.message)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int,
                      message: str) -> None:
        response = error_for(scope["path"])(status, message)
        if status == 401:
            response.headers["WWW-Authenticate"] = self.challenge
        await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
