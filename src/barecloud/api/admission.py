"""ASGI middleware: which requests take a turn (db/admission.py) for their whole run.

A user's read (GET or HEAD) takes none: it is what a person waits on, and
what the turns are there to keep quick.  Every other request takes one
before anything of it runs, its authentication included, so that a storm of
creates and host reports queues at the gate instead of in the event loop.
Two kinds of request go through without a turn of their own, their
transactions each taking one: the host agents' long-polls are GETs but not
a person's (they take a turn, and let it go while they wait), and uploads
stream a body for as long as the client sends it.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from barecloud.api.compute.host_agent import PREFIX as HOST_AGENT
from barecloud.db import admission
from barecloud.services.context import Runtime

READS = frozenset({"GET", "HEAD"})
# Glance's image data and its staging: a body streamed for minutes.
STREAMED = re.compile(r"^/image/v2/images/[^/]+/(file|stage)$")


class Turns:
    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.gate = rt.db.admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if scope["method"] in READS and not path.startswith(HOST_AGENT):
            with admission.reading():
                await self.app(scope, receive, send)
        elif STREAMED.match(path):
            await self.app(scope, receive, send)
        else:
            async with self.gate.turn():
                await self.app(scope, receive, send)
