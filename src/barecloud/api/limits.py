"""ASGI middleware: how much of a request body is read, and for how long.

The check wraps ``receive``, so the service never holds more than one limit's
worth of a body: a Content-Length over the limit is answered 413 before a
byte of the body is read; a body that runs over (chunked, or longer than it
said) stops being read and is answered 413.  A body that stalls is answered
408 (a JSON body must also arrive whole within the time-out).  Either answer
closes the connection, since the rest of the body was never read.  A client
that hangs up mid-body is one line in the log, not a traceback.

Limits (config.py): JSON bodies ``api_max_body_size`` (112 KiB, Nova's and
Keystone's ``max_request_body_size``), the agent's endpoints
``agent_max_body_size``, an image upload (Glance's ``PUT
/image/v2/images/{id}/file`` and ``/stage``) ``image_size_cap``.
"""

from __future__ import annotations

import asyncio
import logging
import re

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from barecloud.api.auth import AGENT_PREFIXES, error_for
from barecloud.config import Settings
from barecloud.errors import ClientError

log = logging.getLogger(__name__)

IMAGE_DATA = re.compile(r"^/image/v2/images/[^/]+/(file|stage)/?$")
# oslo.middleware's sizelimit (Nova, Keystone, Neutron, Glance) explanation.
TOO_LARGE = "Request is too large."


class RequestTooLarge(ClientError):
    code = 413


class RequestTimeout(ClientError):
    code = 408


class BodyLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    def _limit(self, method: str, path: str) -> tuple[int, str, bool]:
        """The most bytes of body ``path`` takes, the 413's message, and whether the
        whole body must arrive within the time-out (not a stream of any length)."""
        s = self.settings
        if method == "PUT" and IMAGE_DATA.match(path):
            return (s.image_size_cap, "The incoming image is too large: at most "
                    f"{s.image_size_cap} bytes are accepted (image_size_cap).", False)
        if path.startswith(AGENT_PREFIXES) or path.startswith("/baremetal/v1/lookup"):
            return s.agent_max_body_size, TOO_LARGE, True
        return s.api_max_body_size, TOO_LARGE, True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        limit, too_large, whole = self._limit(method, path)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(scope, send, 413, too_large)
            return
        loop = asyncio.get_running_loop()
        timeout = self.settings.api_body_timeout
        deadline = loop.time() + timeout if whole else None
        received = 0
        complete = False
        started = False
        refused = False

        async def limited() -> Message:
            nonlocal received, complete, refused
            if complete:  # the body is in: what follows is a wait for a disconnect
                return await receive()
            wait = timeout if deadline is None else max(0.0, deadline - loop.time())
            try:
                message = await asyncio.wait_for(receive(), wait)
            except TimeoutError:
                refused = True
                raise RequestTimeout(f"The request body did not arrive within {timeout:g} "
                                     "seconds.") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise RequestTooLarge(too_large)
                complete = not message.get("more_body", False)
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if refused:  # the rest of the body is unread: this connection is done
                    message["headers"] = [*message.get("headers", []),
                                          (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, limited, sending)
        except (RequestTooLarge, RequestTimeout) as exc:
            # Raised where no handler turned it into an answer (a streaming body).
            if not started:
                await _answer(scope, send, exc.code, exc.message)
        except ClientDisconnect:
            log.warning("%s %s: the client hung up after %d bytes of the request body",
                        method, path, received)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP parser refuses it before we see it
    return None


async def _answer(scope: Scope, send: Send, status: int, message: str) -> None:
    response = error_for(scope["path"])(status, message)
    response.headers["Connection"] = "close"

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await response(scope, no_body, send)
