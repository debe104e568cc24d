"""Assembling processes: all-in-one, API only, conductor only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol

import uvicorn
from prometheus_client import start_http_server

from barecloud.api.app import create_app
from barecloud.api.connections import with_header_timeout
from barecloud.conductor import recovery
from barecloud.conductor.engine import Conductor
from barecloud.conductor.liveness import Member
from barecloud.conductor.mailbox import MAILBOX
from barecloud.conductor.wakeups import CommandListener
from barecloud.config import Settings
from barecloud.db import migrate, sealed, sqlite_lock
from barecloud.db.session import Database
from barecloud.services import private_files
from barecloud.services.baremetal.allocator import Allocator
from barecloud.services.boot.dhcp import DhcpError, Dnsmasq
from barecloud.services.compute.sync import ComputeSync
from barecloud.services.compute.vm_console_relay import Shared as SharedConsoles
from barecloud.services.compute.vm_firewalls import VmFirewalls
from barecloud.services.context import Runtime
from barecloud.services.network.agent import NetworkAgent
from barecloud.services.reservation.manager import LeaseManager
from barecloud.startup import heap
from barecloud.startup.identity import bootstrap_identity

log = logging.getLogger("barecloud")


async def prepare(settings: Settings) -> Database:
    """The database migrated and ready; a SQLite one only under its lock (taken by
    the command before anything else: ``sqlite_lock``), so that no other process
    migrates or writes it meanwhile."""
    _require_sqlite_lock(settings.effective_database_url)
    fixed = private_files.restrict(settings.data_dir)
    if fixed:
        log.warning("made %d entries of %s private (group and others had access)", fixed,
                    settings.data_dir)
    private_files.private_sqlite(settings.effective_database_url)
    await migrate.upgrade_async(settings.effective_database_url)
    # A transaction left waiting past the heartbeat timeout is a process paused
    # past its lease: the server ends it, and its locks with it.
    db = Database(settings.effective_database_url, pool_size=settings.db_pool_size,
                  busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                  idle_in_transaction_s=settings.conductor_heartbeat_timeout,
                  admission_slots=settings.admission_slots or None,
                  admission_max_wait=settings.admission_max_wait)
    # Rows of a barecloud that stored BMC passwords in plaintext: sealed now.
    resealed = await sealed.seal_plaintext(db, sealed.keyring(settings.data_dir))
    if resealed:
        log.warning("sealed the plaintext secrets of %d row(s) (BMC passwords)", resealed)
    return db


def _require_sqlite_lock(url: str) -> None:
    if sqlite_lock.database_path(url) is not None and not sqlite_lock.held(url):
        raise RuntimeError(
            f"{sqlite_lock.database_path(url)} is opened without its lock: SQLite is one "
            "process's database (barecloud serve, or a command under sqlite_lock.exclusive); "
            "api and conductor processes need PostgreSQL")


async def _serve_http(rt: Runtime, settings: Settings, ready: Callable[[], Awaitable[None]]
                      | None) -> None:
    config = uvicorn.Config(
        create_app(rt), host=settings.host, port=settings.port, log_level="warning",
        access_log=False, lifespan="off", loop="asyncio", timeout_keep_alive=30,
        backlog=4096, http=with_header_timeout(settings.api_header_timeout),
    )
    server = _Server(config)
    MAILBOX.open()
    # uvicorn catches SIGINT/SIGTERM while it serves and re-raises them once it
    # has stopped; a handler of ours must exist then, or the default one would
    # end the process before the conductor releases its locks.
    _ignore_signals()
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            with contextlib.suppress(BaseException):
                await task
            raise SystemExit(
                f"barecloud: could not listen on {settings.host}:{settings.port} "
                "(is another process using that port?)"
            )
        await asyncio.sleep(0.02)
    heap.settle()
    if ready is not None:
        await ready()
    try:
        await task
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await task


class _Server(uvicorn.Server):
    """uvicorn waits for the requests under way before it exits: the agents'
    long-polls are told to answer now rather than at the end of their wait."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        MAILBOX.close()
        await super().shutdown(sockets)


def _ignore_signals() -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, lambda: None)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@contextlib.asynccontextmanager
async def _dhcp(settings: Settings) -> AsyncIterator[None]:
    """dnsmasq for network boot, when enabled, for as long as the conductor runs."""
    if not settings.dhcp_enabled:
        yield
        return
    server = Dnsmasq(settings)
    try:
        await server.start()
    except DhcpError as exc:
        raise SystemExit(f"barecloud: {exc.message}") from None
    log.warning("dnsmasq running (pid %s) on %s", server.pid, settings.dhcp_interface)
    try:
        yield
    finally:
        await server.stop()


class _Loop(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@contextlib.asynccontextmanager
async def _running(loop: _Loop) -> AsyncIterator[None]:
    """A background loop of the service (ComputeSync: servers follow their nodes;
    NetworkAgent: tenant DHCP and switch counters; LeaseManager: leases start and end
    on time) for as long as the block runs."""
    await loop.start()
    try:
        yield
    finally:
        await loop.stop()


@contextlib.asynccontextmanager
async def _consoles(rt: Runtime) -> AsyncIterator[None]:
    """Over PostgreSQL, other API processes may get the host agents' legs of this
    process's VM console sessions: its part in handing them over.  Alone on its
    SQLite database, a process needs none (and pays nothing)."""
    if rt.db.is_sqlite:
        yield
        return
    async with _running(SharedConsoles(rt)):
        yield


async def run_all_in_one(
    settings: Settings, ready: Callable[[Runtime], Awaitable[None]] | None = None,
    setup: Callable[[Runtime], Awaitable[None]] | None = None,
) -> None:
    """Everything in one process; ``setup`` runs once the database is ready, before
    DHCP and HTTP start (the netns lab plugs barecloud's address in there)."""
    db = await prepare(settings)
    await bootstrap_identity(settings, db)
    conductor = Conductor(db, settings)
    commands = CommandListener(db.url)
    rt = Runtime(db=db, settings=settings, local_conductor=conductor, commands=commands)
    stopping: float | None = None  # when HTTP stopped: a slow stop is seen, not guessed at
    try:
        if setup is not None:
            await setup(rt)
        async with _dhcp(settings):
            await _registered(conductor.start())
            try:
                async with _running(ComputeSync(rt)), _running(VmFirewalls(rt)), \
                        _running(NetworkAgent(rt)), \
                        _running(LeaseManager(rt)), _running(Allocator(rt)), _running(commands), \
                        _consoles(rt):
                    await _serve_http(rt, settings, (lambda: ready(rt)) if ready else None)
                    stopping = time.monotonic()
                    log.info("HTTP stopped; stopping the background work")
            finally:
                await conductor.stop()
    finally:
        await db.dispose()
    if stopping is not None:
        log.info("stopped in %.1f s", time.monotonic() - stopping)


async def _registered(start: Awaitable[None]) -> None:
    """``start`` a member; a name a live process holds ends the process (status 2)."""
    try:
        await start
    except recovery.NameTaken as exc:
        print(f"barecloud: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None


async def run_api(settings: Settings) -> None:
    """The APIs alone.  The process is a member (role "api", never in the hash
    ring) under a name of its own: the locks it takes around BMC and switch I/O
    are held under that name, so a peer releases them if it dies."""
    db = await prepare(settings)
    await bootstrap_identity(settings, db)
    name = f"api-{socket.gethostname()}-{os.getpid()}"
    settings = settings.model_copy(update={"conductor_name": name})
    member = Member(db, settings, name, role=recovery.API)
    await _registered(member.register())
    await member.start()
    commands = CommandListener(db.url)
    rt = Runtime(db=db, settings=settings, commands=commands)
    try:
        async with _running(ComputeSync(rt)), _running(VmFirewalls(rt)), \
                _running(LeaseManager(rt)), _running(Allocator(rt)), \
                _running(commands), _consoles(rt):
            await _serve_http(rt, settings, None)
    finally:
        await member.close()
        await recovery.unregister(db, name, member.incarnation)
        await recovery.abandon_locks(db, name, f"API process {name} was stopped")
        await db.dispose()


@contextlib.contextmanager
def _metrics_port(settings: Settings) -> Iterator[None]:
    """A conductor-only process serves no API: its own metrics (steps, power-sync
    sweeps) get a port of their own, if ``conductor_metrics_port`` says."""
    if not settings.conductor_metrics_port:
        yield
        return
    try:
        server, thread = start_http_server(settings.conductor_metrics_port, addr=settings.host)
    except OSError as exc:
        raise SystemExit(f"barecloud: could not serve metrics on {settings.host}:"
                         f"{settings.conductor_metrics_port}: {exc.strerror}") from None
    log.warning("conductor metrics at http://%s:%d/metrics", settings.host,
                settings.conductor_metrics_port)
    try:
        yield
    finally:
        server.shutdown()
        thread.join(timeout=5)


async def run_conductor(settings: Settings) -> None:
    db = await prepare(settings)
    conductor = Conductor(db, settings)
    rt = Runtime(db=db, settings=settings, local_conductor=conductor)
    with _metrics_port(settings):
        await _run_conductor(settings, db, conductor, rt)


async def _run_conductor(settings: Settings, db: Database, conductor: Conductor,
                         rt: Runtime) -> None:
    async with _dhcp(settings):
        await _registered(conductor.start())
        log.warning("conductor %s running (pid %d)", conductor.name, os.getpid())
        heap.settle()
        try:
            async with _running(NetworkAgent(rt)):
                await _until_signalled()
        finally:
            await conductor.stop()
            await db.dispose()
