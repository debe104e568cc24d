"""A lab machine's serial port, where the machine lives: in its shard's process.

Output: everything the machine prints (``Machine.console``, the ramdisk
agent's output, a netns machine's terminal) goes to the listeners, the
BMC's Serial-over-LAN session among them, and the last :data:`TAIL`
bytes are kept, so a console that attaches after the boot still sees it.
``console.log`` stays the boot log (``Machine.console`` and the agent
write it); a login session on the port is not logged there.

Input: what is typed goes to whatever is bound to the port: the loopback
lab's command interpreter (lab/login.py) or a netns machine's terminal
(the master side of its pty); with nothing bound it is lost, as on a
UART nobody reads.

The BMC is in the same process, so SOL reaches the port by a method call:
no socket to secure, nothing for another local user to connect to.  Output
may come from any thread (the firmware reads disks in threads); it is
handed to the listeners on the shard's event loop, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

TAIL = 16 * 1024

Listener = Callable[[bytes], None]


class SerialPort:
    """One machine's serial port: wire.ipmi.sol.SerialPort for its BMC."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.listeners: list[Listener] = []
        self.tail = bytearray()
        self.input: Listener | None = None

    # --- the machine's side

    def show(self, data: bytes) -> None:
        """The machine printed ``data`` (from any thread)."""
        if data:
            self.loop.call_soon_threadsafe(self._deliver, bytes(data))

    def bind(self, reader: Listener | None) -> None:
        """What reads the port from now on (None: nothing)."""
        self.input = reader

    # --- the BMC's side (wire.ipmi.sol.SerialPort)

    def attach(self, listener: Listener) -> bytes:
        self.listeners.append(listener)
        return bytes(self.tail)

    def detach(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self.listeners.remove(listener)

    def write(self, data: bytes) -> None:
        if self.input is not None:
            self.input(data)

    def _deliver(self, data: bytes) -> None:
        self.tail += data
        if len(self.tail) > TAIL:
            del self.tail[: len(self.tail) - TAIL]
        for listener in list(self.listeners):
            listener(data)


class Terminal:
    """The master side of a pty whose slave a netns machine's processes hold.

    What they print is shown on the port; what is typed is written to them
    (the pty's line discipline echoes it and turns Enter into a newline, as
    a real serial getty's terminal does).
    """

    def __init__(self, port: SerialPort) -> None:
        self.port = port
        self.master, self.slave = os.openpty()
        os.set_blocking(self.master, False)
        port.loop.add_reader(self.master, self._readable)
        port.bind(self._type)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave descriptor is closed
            data = b""
        if data:
            self.port.show(data)
        else:
            self.port.loop.remove_reader(self.master)

    def _type(self, data: bytes) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.master, data)

    def close_slave(self) -> None:
        """Once the machine's process holds the slave, the shard lets go of it."""
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1

    def close(self) -> None:
        if self.port.input == self._type:
            self.port.bind(None)
        self.close_slave()
        with contextlib.suppress(ValueError, OSError):
            self.port.loop.remove_reader(self.master)
        with contextlib.suppress(OSError):
            os.close(self.master)
