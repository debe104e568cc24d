"""uvicorn's HTTP protocol with a time-out on a request's headers.

uvicorn times out an idle keep-alive connection, but not one that is opened
and left silent, nor one that sends part of its headers and stops: each
would hold a connection forever (slowloris), as would one that drips the
rest of a body the service answered without reading.  Here a timer runs from
the connection's opening, and from the end of each response, until the next
request's headers are complete; when it fires the connection is closed,
after a 408 if part of a request had come.  Body time-outs are the ASGI
middleware's (api/limits.py).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n"
             b"connection: close\r\n\r\n")


class HeaderTimeoutProtocol(HttpToolsProtocol):
    header_timeout = 20.0
    _header_timer: asyncio.TimerHandle | None = None
    _partial = False  # part of a request's headers has come

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._partial = True
        self._arm()

    def on_headers_complete(self) -> None:
        self._partial = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self._partial:
            self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            if self._partial:
                self.transport.write(TIMED_OUT)
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": seconds})
