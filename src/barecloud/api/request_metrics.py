"""ASGI middleware: the latency of every API request, by service, route and status.

The route is the template the request matched (``/baremetal/v1/nodes/{node_ident}``),
never the raw path: one series per route, not one per node or server.  A
request that matched no route (a 404, a 401 before routing) is ``unmatched``.
"""

from __future__ import annotations

import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SERVICES = frozenset({"baremetal", "identity", "compute", "image", "network", "reservation",
                      "boot"})
UNMATCHED = "unmatched"

REQUEST_SECONDS = Histogram(
    "barecloud_api_request_duration_seconds",
    "Time from a request's arrival to the start of its response, by route template.",
    ("service", "method", "route", "status"))


def service_of(path: str) -> str:
    """The OpenStack service a path belongs to; ``barecloud`` for the service's own."""
    first = path.split("/", 2)[1] if path.startswith("/") else ""
    return first if first in SERVICES else "barecloud"


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        observed = False

        async def send_timed(message: Message) -> None:
            nonlocal observed
            if message["type"] == "http.response.start" and not observed:
                observed = True
                self._observe(scope, int(message["status"]), time.monotonic() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            if not observed:  # raised past every handler: the client gets a 500
                self._observe(scope, 500, time.monotonic() - started)

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        # The router writes the matched route into the scope it was given (ours).
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        REQUEST_SECONDS.labels(service_of(scope["path"]), scope["method"], template,
                               str(status)).observe(seconds)
