"""Interactive consoles: the host agent's end of the service's console relay.

The service cannot call the host, so the agent long-polls ``GET /consoles``
for the sessions wanted on its VMs and, for each new one, connects the VM's
socket of that ``kind`` (``serial``: QEMU's ``console.sock`` chardev;
``vnc``: its ``vnc.sock``, raw RFB) and opens a websocket back to the
session's leg (``url``: relative to the agent's service URL, or absolute),
then copies bytes both ways until either side closes.  A VM's serial port
takes one client, so a VM has one session of a kind at a time here: a new
one replaces the old of its kind (which the service gave up on, or it would
not ask); a serial session and a VNC one of the same VM run side by side.
A console the agent cannot connect is said on the leg's handshake
(``X-Barecloud-Console-Error``), so the waiting user hears why at once.
A service without ``/consoles`` (404) is asked again every minute.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from barecloud.hostagent.http import USER_AGENT, ApiError, HttpClient, Unauthorized
from barecloud.hostagent.qmp import _open as open_unix
from barecloud.hostagent.websocket import WebSocket, WebSocketError

CHUNK = 64 * 1024
FIRST_BACKOFF = 0.5
ABSENT_RETRY = 60.0  # a service that does not offer consoles (404)
ERROR_HEADER = "X-Barecloud-Console-Error"
KINDS = ("serial", "vnc")  # the sessions' kinds this agent carries


@runtime_checkable
class Interactive(Protocol):
    """A driver whose VMs have console sockets (Unix stream sockets): the serial
    port's and the VNC server's."""

    def console_socket(self, uuid: str) -> Path: ...

    def vnc_socket(self, uuid: str) -> Path: ...


class Consoles:
    """The console sessions of one host: :meth:`run` until cancelled."""

    def __init__(self, base_url: str, credential: str, driver: Interactive,
                 log: logging.Logger | logging.LoggerAdapter[Any], *,
                 poll_wait: float = 25.0, max_backoff: float = 15.0) -> None:
        self.driver = driver
        self.credential = credential
        self.log = log
        self.poll_wait = poll_wait
        self.max_backoff = max_backoff
        self._poller = HttpClient(base_url, credential, timeout=poll_wait + 30.0)
        self.splices: dict[tuple[str, str], asyncio.Task[None]] = {}  # by (VM, kind)
        self._seen: set[str] = set()  # session ids taken up

    async def run(self) -> None:
        since = 0
        delay = FIRST_BACKOFF
        try:
            while True:
                try:
                    answer = await self._poller.call(
                        "GET", f"/consoles?since={since}&wait={self.poll_wait:g}",
                        timeout=self.poll_wait + 30.0)
                    since, entries = _parse(answer)
                except Unauthorized:
                    raise
                except ApiError as exc:
                    if exc.status == 404:
                        self.log.info("the service offers no interactive consoles; "
                                      "asking again in %g s", ABSENT_RETRY)
                        await asyncio.sleep(ABSENT_RETRY)
                        continue
                    self.log.warning("console sessions: %s; again in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_backoff)
                    continue
                delay = FIRST_BACKOFF
                for entry in entries:
                    if entry["session"] not in self._seen:
                        self._seen.add(entry["session"])
                        self._start(entry)
                # A session no longer listed was opened (or given up): forget its id.
                self._seen &= {e["session"] for e in entries}
        finally:
            await self.close()

    async def close(self) -> None:
        splices = list(self.splices.values())
        for task in splices:
            task.cancel()
        await asyncio.gather(*splices, return_exceptions=True)
        await self._poller.close()

    def _start(self, entry: dict[str, Any]) -> None:
        key = (entry["vm"], entry.get("kind", "serial"))
        previous = self.splices.get(key)
        task = asyncio.create_task(self._splice(entry, previous),
                                   name=f"console {key[0]} {entry['session']} {key[1]}")
        self.splices[key] = task
        task.add_done_callback(lambda t: self.splices.pop(key, None)
                               if self.splices.get(key) is t else None)

    def _socket(self, vm: str, kind: str) -> Path:
        return self.driver.vnc_socket(vm) if kind == "vnc" else self.driver.console_socket(vm)

    async def _splice(self, entry: dict[str, Any], previous: asyncio.Task[None] | None
                      ) -> None:
        vm, session, kind = entry["vm"], entry["session"], entry.get("kind", "serial")
        if previous is not None:  # one client of a kind at a time (a serial port: one)
            previous.cancel()
            await asyncio.gather(previous, return_exceptions=True)
        url = self._leg_url(entry["url"])
        headers = {"Authorization": f"Bearer {self.credential}", "User-Agent": USER_AGENT}
        console: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            console = await open_unix(self._socket(vm, kind))
        except Exception as exc:  # no such VM, QEMU not running, no socket
            what = "VNC server" if kind == "vnc" else "console"
            headers[ERROR_HEADER] = _header_text(f"cannot connect to its {what}: {exc}")
        try:
            leg = await WebSocket.connect(url, headers, timeout=30.0)
        except (OSError, TimeoutError, WebSocketError, ValueError) as exc:
            self.log.warning("%s console of VM %s (session %s): leg not opened: %s",
                             kind, vm, session, exc)
            if console is not None:
                console[1].close()
            return
        if console is None:
            self.log.warning("%s console of VM %s: %s", kind, vm, headers[ERROR_HEADER])
            await leg.close()
            return
        self.log.info("%s console of VM %s: session %s open", kind, vm, session)
        try:
            await _copy_both_ways(console, leg)
        except Exception:  # a bug here must not end the agent, nor pass unseen
            self.log.exception("%s console of VM %s: session %s failed", kind, vm, session)
        finally:
            console[1].close()
            await leg.close(timeout=1.0)
            self.log.info("%s console of VM %s: session %s closed", kind, vm, session)

    def _leg_url(self, url: str) -> str:
        if re.match(r"^(wss?|https?)://", url):
            return url
        return self._poller.base_url + "/" + url.lstrip("/")


async def _copy_both_ways(console: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                          leg: WebSocket) -> None:
    reader, writer = console

    async def out() -> None:  # the guest's bytes to the service
        while data := await reader.read(CHUNK):
            await leg.send(data)

    async def into() -> None:  # the user's bytes to the guest
        while (data := await leg.receive()) is not None:
            writer.write(data)
            await writer.drain()

    tasks = [asyncio.create_task(out()), asyncio.create_task(into())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception) and not isinstance(
                    result, OSError | EOFError | WebSocketError):
                raise result


def _parse(answer: Any) -> tuple[int, list[dict[str, Any]]]:
    """The answer's seq and its well-formed entries (others are left out)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("seq"), int) \
            or not isinstance(answer.get("consoles"), list):
        raise ApiError(502, f"GET /consoles: unexpected answer {str(answer)[:200]}")
    entries = [e for e in answer["consoles"] if isinstance(e, dict)
               and all(isinstance(e.get(k), str) and e[k] for k in ("session", "vm", "url"))
               and e.get("kind", "serial") in KINDS]
    return answer["seq"], entries


def _header_text(text: str) -> str:
    """``text`` fit for an HTTP header: one line, latin-1, not too long."""
    flat = " ".join(text.split())
    return flat.encode("latin-1", "replace").decode("latin-1")[:200]
