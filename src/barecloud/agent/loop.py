"""The agent's life: find its node, heartbeat, pull commands, run them, report.

One command at a time, in the order the conductor gives them.  The
heartbeats carry the chain server's URL (``callback_url``), where the next
machines of an image chain pull the image this one writes.  While one
runs, a reporter thread posts its progress every second (``running``), which
keeps the node's wait deadline moving while bytes flow; the final report
(``succeeded``/``failed``) is posted only after the reporter has stopped, so
it is always the last word.  A command whose final report was posted but
comes back (the report was lost) is answered with the same report, not run
again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

from barecloud.agent import commands
from barecloud.agent.chain import ChainServer
from barecloud.agent.client import ApiError, Client, Conflict, Unauthorized
from barecloud.agent.hardware import Hardware
from barecloud.agent.sources import public_url

POLL_WAIT = 25.0
PROGRESS_EVERY = 1.0
PROGRESS_LOG_EVERY = 10.0
HIDDEN = "******"  # what a lookup gives once the token has been handed out

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, client: Client, hardware: Hardware, macs: list[str], *,
                 boot_mac: str | None = None, heartbeat_interval: float | None = None,
                 poll_wait: float = POLL_WAIT, chain: ChainServer | None = None) -> None:
        self.client = client
        self.hardware = hardware
        self.macs = macs
        self.boot_mac = boot_mac
        self.heartbeat_interval = heartbeat_interval
        self.poll_wait = poll_wait
        self.chain = chain
        self.callback_url = ""
        self.node_uuid = ""
        self._finished: dict[str, tuple[str, dict[str, Any]]] = {}
        self._stopping = threading.Event()

    def run(self) -> int:
        """Serve the node until a power action ends the process; 1 on a fatal error."""
        log.info("looking up the node of %s at %s", ", ".join(self.macs), self.client.base_url)
        found = self.client.lookup(self.macs)
        self.node_uuid = str(found["node"]["uuid"])
        config = found.get("config") or {}
        if not self.client.token:
            self.client.token = _token_of(config)
        if not self.client.token:
            log.error("no agent token: none on the kernel command line (barecloud.token=) "
                      "and the lookup gave none")
            return 1
        log.info("this is node %s", self.node_uuid)
        if self.chain is not None:
            self.callback_url = self.chain.url_for(self.client.base_url) or ""
            log.info("chain server at %s", self.callback_url or f"port {self.chain.port} "
                     "(no address towards the service)")
        interval = self.heartbeat_interval or max(
            1.0, float(config.get("heartbeat_timeout") or 30) / 3)
        beats = threading.Thread(target=self._heartbeats, args=(interval,), name="heartbeat",
                                 daemon=True)
        beats.start()
        try:
            return self._serve()
        finally:
            self._stopping.set()
            self.client.close()

    def _serve(self) -> int:
        delay = 1.0
        while True:
            try:
                command = self.client.next_command(self.node_uuid, self.poll_wait)
                if command is not None:
                    self._handle(command)
                delay = 1.0
            except Unauthorized as exc:
                if not self._refresh_token():
                    log.error("the service refuses the agent token (%s) and the lookup gives "
                              "no other: stopping", exc)
                    return 1
            except ApiError as exc:
                log.warning("command poll: %s; again in %.0f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, self.client.max_backoff)

    def _refresh_token(self) -> bool:
        """After a 401: a new token from a fresh lookup, if the service gives one."""
        try:
            found = self.client.call("GET", self.client.lookup_path(self.macs))
        except ApiError as exc:
            log.warning("lookup after a 401: %s", exc)
            return False
        token = _token_of((found or {}).get("config") or {})
        if not token or token == self.client.token:
            return False
        log.info("the lookup gave a new agent token")
        self.client.token = token
        return True

    def _heartbeats(self, interval: float) -> None:
        while not self._stopping.is_set():
            try:
                self.client.heartbeat(self.node_uuid, self.callback_url)
            except (ApiError, OSError) as exc:
                log.warning("heartbeat: %s", exc)
            if self._stopping.wait(interval):
                return

    def _handle(self, command: dict[str, Any]) -> None:
        command_id = str(command.get("id"))
        name = str(command.get("name"))
        params = command.get("params") or {}
        if command_id in self._finished:
            log.info("command %s (%s) is done already: reporting it again", name, command_id)
            self._report(command_id, *self._finished[command_id])
            return
        log.info("command %s (%s): %s", name, command_id, _summary(params))
        try:
            self.client.report(self.node_uuid, command_id, "running")
        except Conflict as exc:
            log.warning("command %s (%s) is not current any more: %s", name, command_id, exc)
            return
        reporter = _ProgressReporter(self.client, self.node_uuid, command_id, name)
        outcome: commands.Outcome | None = None
        started = time.monotonic()
        try:
            outcome = commands.run(name, params, commands.Context(
                self.hardware, self.boot_mac, reporter.update, self.chain))
            final: tuple[str, dict[str, Any]] = ("succeeded", {"result": outcome.result})
            log.info("command %s succeeded in %.1f s", name, time.monotonic() - started)
        except commands.CommandError as exc:
            final = ("failed", {"error": str(exc)})
            log.error("command %s failed: %s", name, exc)
        except Exception as exc:  # a bug must fail the command, not kill the agent
            log.exception("command %s crashed", name)
            final = ("failed", {"error": f"{name}: unexpected error: {exc!r}"})
        finally:
            reporter.stop()
        self._finished[command_id] = final
        self._report(command_id, *final)
        if outcome is not None and outcome.then is not None and final[0] == "succeeded":
            outcome.then()

    def _report(self, command_id: str, status: str, fields: dict[str, Any]) -> None:
        try:
            self.client.report(self.node_uuid, command_id, status, **fields)
        except Conflict as exc:
            log.warning("report of command %s refused: %s", command_id, exc)


class _ProgressReporter:
    """Posts the latest progress of a running command every second, in a thread."""

    def __init__(self, client: Client, node_uuid: str, command_id: str, name: str) -> None:
        self._client = client
        self._node_uuid = node_uuid
        self._command_id = command_id
        self._name = name
        self._latest: tuple[int, int | None] | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def update(self, done: int, total: int | None) -> None:
        self._latest = (done, total)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        sent: tuple[int, int | None] | None = None
        logged = time.monotonic()
        while not self._done.wait(PROGRESS_EVERY):
            latest = self._latest
            if latest is None or latest == sent:
                continue
            sent = latest
            done, total = latest
            if time.monotonic() - logged >= PROGRESS_LOG_EVERY:
                logged = time.monotonic()
                of = f" of {total // 2**20}" if total else ""
                log.info("%s: %d%s MiB", self._name, done // 2**20, of)
            try:
                self._client.report(self._node_uuid, self._command_id, "running",
                                    progress={"bytes": done, "total": total}, retry=False)
            except ApiError as exc:
                log.warning("progress report: %s", exc)


def _token_of(config: dict[str, Any]) -> str | None:
    token = config.get("agent_token")
    return token if isinstance(token, str) and token and token != HIDDEN else None


def _summary(params: Any) -> str:
    """The parameters for the log, without config drive contents."""
    if not isinstance(params, dict):
        return repr(params)
    shown: dict[str, Any] = {}
    for key, value in params.items():
        if key == "serve" and isinstance(value, dict):
            shown[key] = {**value, "token": HIDDEN}
        elif key == "url" and isinstance(value, str):
            shown[key] = public_url(value)  # a signed URL's signature is a credential
        elif key == "upstreams" and isinstance(value, list):
            shown[key] = [re.sub(r"/chain/[^/?#]+", f"/chain/{HIDDEN}", str(u)) for u in value]
        elif key == "files" and isinstance(value, dict):
            shown[key] = sorted(value)
        elif key == "image" and isinstance(value, str):
            shown[key] = f"<{len(value)} base64 characters>"
        else:
            shown[key] = value
    return repr(shown)
