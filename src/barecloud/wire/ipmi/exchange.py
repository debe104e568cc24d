"""One request in flight on a connected UDP socket, retransmitted until a deadline.

Timing model: ``timeout`` is the deadline of one public call, whatever it
needs (a login, a privilege raise, the command).  Inside it each exchange
is retransmitted ``retries`` times with doubling intervals, the first being
``timeout / (2 ** (retries + 1) - 1)``, so all attempts of one exchange fit
the deadline exactly.  A call never takes longer than ``timeout``; when it
runs out it raises :class:`IpmiTimeout`.

How a request is built and what answer matches it is the caller's (the
session in ``client``); this is only the sending, waiting and giving up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from barecloud.wire.ipmi.errors import IpmiProtocolError, IpmiTimeout
from barecloud.wire.ipmi.framing import Packet, PayloadType, parse_packet

T = TypeVar("T")


class Silence(Exception):
    """An attempt got no answer before its retransmission timer fired."""


def _silence(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(Silence())


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, link: UdpExchange) -> None:
        self.link = link

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.link._received(data)

    def error_received(self, exc: Exception) -> None:
        self.link._refused = exc  # ICMP port unreachable: said on timeout


class UdpExchange:
    """A UDP socket to one peer that waits for one matching answer at a time."""

    def __init__(self, host: str, port: int, timeout: float, retries: int) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self._first_interval = timeout / (2 ** (retries + 1) - 1)
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: tuple[Callable[[Packet], Any], asyncio.Future[Any]] | None = None
        self._refused: Exception | None = None
        # Packets no request waits for: Serial-over-LAN data (sol_client).
        self._unsolicited: Callable[[Packet], None] | None = None

    async def _exchange(
        self,
        build: Callable[[], bytes],
        match: Callable[[Packet], T | None],
        deadline: float,
        what: str,
        attempts: int | None = None,
    ) -> T:
        """Send and wait for the matching answer, retransmitting with backoff.

        Raises :class:`IpmiTimeout` at the deadline, or :class:`Silence`
        after ``attempts`` unanswered sends (the caller decides what next).
        """
        loop = asyncio.get_running_loop()
        interval = self._first_interval
        sent = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise IpmiTimeout(self._timeout_message(what))
            fut: asyncio.Future[T] = loop.create_future()
            self._pending = (match, fut)
            self._send(build())
            sent += 1
            timer = loop.call_later(min(interval, remaining), _silence, fut)
            try:
                return await fut
            except Silence:
                if attempts is not None and sent >= attempts:
                    raise
                interval *= 2
            finally:
                timer.cancel()
                self._pending = None

    def _received(self, data: bytes) -> None:
        try:
            packet = parse_packet(data)
            if packet.payload_type == PayloadType.SOL:
                if self._unsolicited is not None:
                    self._unsolicited(packet)
                return
            pending = self._pending
            if pending is None:
                return  # late duplicate, or nothing asked
            match, fut = pending
            result = match(packet)
        except IpmiProtocolError:
            return  # forged, corrupt or foreign: drop, as the spec asks
        if result is not None and not fut.done():
            fut.set_result(result)

    async def _open_socket(self) -> None:
        if self._transport is None:
            self._refused = None
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), remote_addr=(self.host, self.port)
            )
            self._transport = transport

    def _send(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.sendto(data)

    def _close_socket(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _timeout_message(self, what: str) -> str:
        why = " (port unreachable)" if isinstance(self._refused, ConnectionRefusedError) else ""
        return f"{self._where()}: {what}: no answer within {self.timeout:g}s{why}"
