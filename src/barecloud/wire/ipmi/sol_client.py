"""The console end of Serial-over-LAN: a machine's serial port as an async stream.

::

    async with IpmiSession(host, port, user, password) as session:
        async with session.sol() as console:
            await console.write(b"hostname\\r")
            print(await console.read())

Activation is Activate Payload in the session (which is logged in first);
from then on the BMC sends what the machine prints in numbered packets,
each acknowledged here with the characters taken (a NACK while the
reader is :data:`MAX_BUFFERED` behind, so the BMC holds the rest), a
retransmission acknowledged again but read only once.  ``write`` sends
what is typed the same way, one packet in flight, resent every
``retry_interval`` up to ``retries`` times, the rest of a partly
accepted packet sent again.  A Get Device ID every 15 s keeps the session
open while nobody types (ipmitool does the same).  The stream ends
(``read`` returns ``b""``) when the BMC deactivates the payload or the
session is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from barecloud.wire.ipmi.commands import NETFN_APP
from barecloud.wire.ipmi.errors import IpmiCommandError, IpmiError, IpmiTimeout
from barecloud.wire.ipmi.session import Privilege
from barecloud.wire.ipmi.sol import (
    AUX_AUTHENTICATE,
    AUX_ENCRYPT,
    CC_PAYLOAD_ACTIVE,
    CMD_ACTIVATE_PAYLOAD,
    CMD_DEACTIVATE_PAYLOAD,
    MAX_CHARS,
    PAYLOAD_SOL,
    SOL_DEACTIVATING,
    SOL_HEADER,
    SOL_NACK,
    PayloadActivation,
    SolPacket,
    next_sol_seq,
)

KEEPALIVE_INTERVAL = 15.0
MAX_BUFFERED = 1 << 20  # bytes printed but not read yet, beyond which the BMC is NACKed
_AUX = AUX_ENCRYPT | AUX_AUTHENTICATE | 0x04 | 0x02  # serial alerts deferred, CTS not asserted


class SolLink(Protocol):
    """What the console needs of its session (client.IpmiSession)."""

    async def raw(
        self, netfn: int, command: int, data: bytes = b"", privilege: Privilege = Privilege.USER
    ) -> bytes: ...

    async def login(self) -> None: ...

    async def keepalive(self) -> bool: ...

    def send_sol(self, payload: bytes, encrypt: bool = True) -> None: ...

    def listen_sol(self, listener: Callable[[bytes | None], None] | None) -> None: ...


class SolClosed(IpmiError):
    """The SOL payload is not active (deactivated by the BMC, or the session lost)."""


class SolConsole:
    """One activated SOL payload: ``read`` what the machine prints, ``write`` what to type."""

    def __init__(
        self, link: SolLink, instance: int = 1, *, retries: int = 7, retry_interval: float = 0.2
    ) -> None:
        if not 1 <= instance <= 15:
            raise ValueError("SOL instances are numbered 1 to 15")
        self.link = link
        self.instance = instance
        self.retries = retries
        self.retry_interval = retry_interval
        self.activation: PayloadActivation | None = None
        self.closed_why = ""
        self._buffer = bytearray()
        self._readable = asyncio.Event()
        self._active = False
        self._last_in = (0, 0)  # (sequence, characters) of the BMC's last packet taken
        self._seq = 0
        self._ack: asyncio.Future[SolPacket] | None = None
        self._awaited = 0  # the sequence number whose ACK ``_ack`` waits for
        self._write_lock = asyncio.Lock()
        self._keepalive: asyncio.Task[None] | None = None
        self.retransmits = 0  # our packets sent again: tests watch this

    async def __aenter__(self) -> SolConsole:
        await self.activate()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def active(self) -> bool:
        return self._active

    async def activate(self) -> None:
        """Activate Payload: IpmiCommandError 0x80 if another console has it."""
        await self.link.login()
        self.link.listen_sol(self._received)
        self._active = True
        try:
            data = await self.link.raw(
                NETFN_APP, CMD_ACTIVATE_PAYLOAD, bytes((PAYLOAD_SOL, self.instance, _AUX, 0, 0, 0))
            )
            self.activation = PayloadActivation.decode(data)
        except BaseException:
            self._end("activation failed")
            raise
        self._keepalive = asyncio.get_running_loop().create_task(self._keep_alive())

    async def read(self, n: int = -1) -> bytes:
        """What the machine printed (at least one byte, at most ``n``); b"" once closed."""
        while not self._buffer:
            if not self._active:
                return b""
            self._readable.clear()
            await self._readable.wait()
        size = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def read_until(self, marker: bytes, timeout: float) -> bytes:
        """Everything up to and including ``marker``; IpmiTimeout if it did not come."""
        seen = bytearray()

        async def collect() -> bytes:
            while marker not in seen:
                chunk = await self.read()
                if not chunk:
                    raise SolClosed(f"SOL closed ({self.closed_why}) before {marker!r}")
                seen.extend(chunk)
            end = seen.index(marker) + len(marker)
            self._buffer[:0] = seen[end:]  # what came after stays to be read
            return bytes(seen[:end])

        try:
            return await asyncio.wait_for(collect(), timeout)
        except TimeoutError:
            self._buffer[:0] = seen
            raise IpmiTimeout(f"no {marker!r} on the serial console within {timeout:g}s") from None

    async def write(self, data: bytes) -> None:
        """Type ``data``; returns once the BMC accepted all of it.

        IpmiTimeout when a packet went unacknowledged ``retries`` times,
        SolClosed when the payload is not active.
        """
        size = MAX_CHARS
        if self.activation is not None:
            size = max(1, min(size, self.activation.inbound - SOL_HEADER))
        async with self._write_lock:
            rest = bytes(data)
            while rest:
                accepted, nack = await self._send(rest[:size])
                rest = rest[accepted:]
                if nack and rest:
                    await asyncio.sleep(self.retry_interval)  # the BMC cannot take more now

    async def close(self) -> None:
        """Deactivate the payload (the session stays open)."""
        was_active = self._active
        self._end("closed")
        if was_active:
            with contextlib.suppress(IpmiError, OSError):
                try:
                    await self.link.raw(
                        NETFN_APP,
                        CMD_DEACTIVATE_PAYLOAD,
                        bytes((PAYLOAD_SOL, self.instance, 0, 0, 0, 0)),
                    )
                except IpmiCommandError as exc:
                    if exc.code != CC_PAYLOAD_ACTIVE:  # "already deactivated": fine
                        raise

    # --- packets

    async def _send(self, chunk: bytes) -> tuple[int, bool]:
        """One packet until acknowledged: (characters accepted, NACK)."""
        self._seq = next_sol_seq(self._seq)
        packet = SolPacket(self._seq, data=chunk).encode()
        loop = asyncio.get_running_loop()
        for attempt in range(self.retries + 1):
            if not self._active:
                raise SolClosed(f"SOL is not active ({self.closed_why})")
            self._ack = loop.create_future()
            self._awaited = self._seq
            if attempt:
                self.retransmits += 1
            self.link.send_sol(packet)
            try:
                ack = await asyncio.wait_for(self._ack, self.retry_interval)
            except TimeoutError:
                continue
            finally:
                self._ack = None
            return min(ack.accepted, len(chunk)), ack.nack
        raise IpmiTimeout(
            f"SOL: {len(chunk)} characters not acknowledged after {self.retries + 1} sends"
        )

    def _received(self, payload: bytes | None) -> None:
        if payload is None:
            self._end("the session was lost")
            return
        try:
            pkt = SolPacket.decode(payload)
        except IpmiError:
            return
        if pkt.ack and self._ack is not None and pkt.ack == self._awaited and not self._ack.done():
            self._ack.set_result(pkt)
        if pkt.status & SOL_DEACTIVATING:
            self._end("deactivated by the BMC")
            return
        if not pkt.seq:
            return
        last_seq, last_count = self._last_in
        data = pkt.data
        if pkt.seq == last_seq:
            data = data[last_count:]  # a retransmission: only what is new, if anything
        room = MAX_BUFFERED - len(self._buffer)
        take = data[: max(room, 0)]
        accepted = len(pkt.data) - len(data) + len(take)
        if take or not data:
            self._last_in = (pkt.seq, accepted)
        self._buffer.extend(take)
        if take:
            self._readable.set()
        status = SOL_NACK if len(take) < len(data) else 0
        self.link.send_sol(SolPacket(ack=pkt.seq, accepted=accepted, status=status).encode())

    def _end(self, why: str) -> None:
        if not self._active:
            return
        self._active = False
        self.closed_why = why
        self.link.listen_sol(None)
        if self._keepalive is not None and self._keepalive is not asyncio.current_task():
            self._keepalive.cancel()
        self._keepalive = None
        if self._ack is not None and not self._ack.done():
            self._ack.set_exception(SolClosed(f"SOL is not active ({why})"))
        self._readable.set()

    async def _keep_alive(self) -> None:
        while self._active:
            await asyncio.sleep(KEEPALIVE_INTERVAL)
            if self._active and not await self.link.keepalive():
                self._end("the BMC stopped answering")
