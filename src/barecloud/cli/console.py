"""``barecloud console SERVER``: this terminal on a server's serial console.

The service gives a console URL (Nova's remote consoles, microversion 2.6,
as ``openstack console url show --serial`` asks for) and the terminal
attaches to its websocket: raw mode, what is typed goes to the console,
``~.`` at the start of a line leaves (as ssh and ipmitool).  From a pipe
(no terminal) the input is sent as it comes and the console's output is
printed until the input ends and ``--linger`` seconds have passed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator
from typing import Any

import typer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from barecloud.cli import service

NOVA = {"OpenStack-API-Version": "compute 2.96"}
ESCAPE = b"~."


def console_url(url: str, token: str | None, cloud: str | None, server: str) -> str:
    """The serial console's URL of ``server`` (a name or an id)."""
    with service.client(url, token, cloud, prefix="/compute/v2.1", headers=NOVA) as client:
        found = client.get(f"/servers/{server}")
        if found.status_code == 404:
            named = service.ok(client.get("/servers", params={"name": f"^{server}$"}))
            ids = [s["id"] for s in named["servers"]]
            if len(ids) != 1:
                typer.echo(f"error: {len(ids) or 'no'} server(s) named {server}", err=True)
                raise typer.Exit(1)
            server = ids[0]
        answer = service.ok(client.post(f"/servers/{server}/remote-consoles", json={
            "remote_console": {"protocol": "serial", "type": "serial"}}))
    return str(answer["remote_console"]["url"])


@contextlib.contextmanager
def _raw(fd: int) -> Iterator[None]:
    """The terminal in raw mode for the session, as it was after it."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def attach(url: str, *, linger: float = 1.0) -> int:
    """Copy between this terminal and the console until ``~.``, the input's end or
    the console's; the exit status."""
    try:
        ws = connect(url, subprotocols=["binary"], open_timeout=30)  # type: ignore[list-item]
    except (OSError, ConnectionClosed) as exc:
        typer.echo(f"error: cannot attach to the console: {exc}", err=True)
        return 1
    closed: dict[str, Any] = {}
    reader = threading.Thread(target=_print, args=(ws, closed), daemon=True)
    reader.start()
    fd = sys.stdin.fileno()
    with _raw(fd):
        _type(ws, fd)
    if not os.isatty(fd):
        deadline = time.monotonic() + linger
        while reader.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    ws.close()
    reader.join(5)
    code = closed.get("code")
    if code not in (None, 1000, 1005):
        typer.echo(f"\r\nconsole closed: {closed.get('reason') or code}", err=True)
        return 1
    return 0


def _print(ws: ClientConnection, closed: dict[str, Any]) -> None:
    out = sys.stdout.buffer
    try:
        for message in ws:
            out.write(message if isinstance(message, bytes) else message.encode())
            out.flush()
    except ConnectionClosed:
        pass
    if ws.close_code is not None:
        closed.update(code=ws.close_code, reason=ws.close_reason)


def _type(ws: ClientConnection, fd: int) -> None:
    """Send what is typed; ``~.`` at the start of a line ends it."""
    line_start, pending = True, b""
    while True:
        try:
            data = os.read(fd, 1024)
        except OSError:
            return
        if not data:
            return
        out = bytearray()
        for byte in data:
            ch = bytes([byte])
            if pending:
                pending = b""
                if ch == b".":
                    if out:
                        _send(ws, bytes(out))
                    return
                out += b"~"
            if line_start and ch == b"~":
                pending = ch
                continue
            out += ch
            line_start = ch in (b"\r", b"\n")
        if out and not _send(ws, bytes(out)):
            return


def _send(ws: ClientConnection, data: bytes) -> bool:
    try:
        ws.send(data)
        return True
    except ConnectionClosed:
        return False
