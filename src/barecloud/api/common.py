"""What every API module shares: JSON bodies, request ids, fast JSON responses."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Send

from barecloud.errors import InvalidParameter, NotFound
from barecloud.services.context import RequestContext, Runtime


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise InvalidParameter("The request body is empty; a JSON document was expected.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidParameter(f"Malformed JSON in the request body: {exc}") from None


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def provisioning_only(request: Request) -> None:
    """404 unless the request came in on ``provisioning_listen_address`` (when set):
    /boot/ and the agent's endpoints are for the provisioning network only."""
    allowed = runtime(request).settings.provisioning_listen_address
    if not allowed:
        return
    server = request.scope.get("server") or ("",)
    if not _same_address(str(server[0]), allowed):
        raise NotFound("The resource could not be found.")


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def source(request: Request) -> str:
    """The client's address, for the records of refused requests."""
    return request.client.host if request.client else "an unknown address"


def context(request: Request) -> RequestContext:
    """Who is asking, as the auth middleware (api/auth.py) found; anonymous on the
    paths served without a token."""
    ctx: RequestContext | None = getattr(request.state, "context", None)
    if ctx is not None:
        return ctx
    rid = getattr(request.state, "request_id", None) or new_request_id()
    return RequestContext.anonymous(rid)


def base_url(request: Request) -> str:
    """The URL the client used to reach us, so links work behind any address."""
    host = request.headers.get("host")
    if host:
        return f"{request.url.scheme}://{host}"
    return str(request.base_url).rstrip("/")


def with_headers(send: Send, extra: dict[str, str]) -> Send:
    """``send`` that adds ``extra`` to the response's headers (version middlewares)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for key, value in extra.items():
                headers[key] = value
        await send(message)

    return sending
