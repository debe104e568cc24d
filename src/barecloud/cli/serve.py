"""Assembling processes: all-in-one, API only, conductor only."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import uvicorn
import yaml
from prometheus_client import start_http_server

from barecloud.api.app import create_app
from barecloud.api.connections import with_header_timeout
from barecloud.conductor import recovery
from barecloud.conductor.engine import Conductor
from barecloud.conductor.liveness import Member
from barecloud.conductor.wakeups import CommandListener
from barecloud.config import Settings
from barecloud.db import migrate, sealed, sqlite_lock
from barecloud.db.identity_models import DEFAULT_DOMAIN
from barecloud.db.session import Database
from barecloud.services import private_files
from barecloud.services.boot.dhcp import DhcpError, Dnsmasq
from barecloud.services.compute.sync import ComputeSync
from barecloud.services.context import Runtime
from barecloud.services.identity import bootstrap, fernet
from barecloud.services.identity.bootstrap import Account
from barecloud.services.network.agent import NetworkAgent
from barecloud.services.reservation.manager import LeaseManager

log = logging.getLogger("barecloud")


def clouds_yaml_path(settings: Settings) -> Path:
    return settings.data_dir / "clouds.yaml"


def _noauth_cloud(settings: Settings) -> dict[str, Any]:
    base = settings.base_url
    return {
        "auth_type": "none",
        "baremetal_endpoint_override": f"{base}/baremetal",
        # Unversioned, as Glance's catalog entry: clients discover v2 there.
        "image_endpoint_override": f"{base}/image",
        # Versioned, so clients need no catalog to find Nova's v2.1.
        "compute_endpoint_override": f"{base}/compute/v2.1",
        # Unversioned, as Neutron's catalog entry: clients add v2.0 themselves.
        "network_endpoint_override": f"{base}/network",
        # Versioned: python-blazarclient appends /leases to it, no discovery.
        "reservation_endpoint_override": f"{base}/reservation/v1",
        # `openstack image ...` and `flavor create` build an identity client (for
        # --project) and fail without one to discover; Identity's version
        # documents answer without a token.
        "identity_endpoint_override": f"{base}/identity/v3",
        "region_name": "RegionOne",
    }


def _password_cloud(settings: Settings, account: Account, password: str | None) -> dict[
        str, Any]:
    auth: dict[str, Any] = {
        "auth_url": f"{settings.base_url}/identity",
        "username": account.user,
        "project_name": account.project,
        "user_domain_id": DEFAULT_DOMAIN,
        "project_domain_id": DEFAULT_DOMAIN,
    }
    if password is not None:
        auth["password"] = password
    return {"auth_type": "password", "auth": auth, "region_name": "RegionOne",
            "identity_api_version": 3}


def _known_passwords(path: Path) -> dict[str, str]:
    """username -> password from the clouds.yaml written before (passwords are set
    once, when the bootstrap creates the users)."""
    try:
        clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return {}
    known = {}
    for cloud in clouds.values():
        auth = cloud.get("auth") if isinstance(cloud, dict) else None
        if isinstance(auth, dict) and auth.get("username") and auth.get("password"):
            known[str(auth["username"])] = str(auth["password"])
    return known


def write_clouds_yaml(settings: Settings, accounts: dict[str, Account] | None = None) -> Path:
    """The clouds.yaml for the ``openstack`` CLI and openstacksdk (mode 0600).

    keystone: clouds ``barecloud`` (demo, member of project demo) and
    ``barecloud-admin`` (admin of project admin); noauth: ``barecloud``.
    """
    path = clouds_yaml_path(settings)
    if settings.auth_strategy == "noauth" or not accounts:
        clouds = {"barecloud": _noauth_cloud(settings)}
    else:
        known = _known_passwords(path)
        clouds = {}
        for cloud, user in (("barecloud", "demo"), ("barecloud-admin", "admin")):
            account = accounts[user]
            password = account.password or known.get(user)
            if password is None:
                log.warning("the password of %s is not known: it is left out of %s", user, path)
            clouds[cloud] = _password_cloud(settings, account, password)
    text = yaml.safe_dump({"clouds": clouds}, sort_keys=False)
    tmp = path.with_name(f".clouds.yaml.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


async def bootstrap_identity(settings: Settings, db: Database) -> Path:
    """Identity's first data (idempotent), then clouds.yaml; one process at a time
    per data directory."""
    lock = settings.data_dir / ".bootstrap.lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        accounts = await bootstrap.run(db, accounts=settings.auth_strategy == "keystone")
        fernet.load(settings.data_dir)  # the token keys, created on the first start
        return write_clouds_yaml(settings, accounts)


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
    db = Database(settings.effective_database_url, pool_size=settings.db_pool_size,
                  busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    # Rows of a barecloud that stored BMC passwords in plaintext: sealed now.
    resealed = await sealed.seal_plaintext(db, sealed.keyring(settings.data_dir))
    if resealed:
        log.warning("sealed the plaintext BMC secrets of %d node(s)", resealed)
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
    server = uvicorn.Server(config)
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
    if ready is not None:
        await ready()
    try:
        await task
    finally:
        server.should_exit = True
        with contextlib.suppress(BaseException):
            await task


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
    try:
        if setup is not None:
            await setup(rt)
        async with _dhcp(settings):
            await _registered(conductor.start())
            try:
                async with _running(ComputeSync(rt)), _running(NetworkAgent(rt)), \
                        _running(LeaseManager(rt)), _running(commands):
                    await _serve_http(rt, settings, (lambda: ready(rt)) if ready else None)
            finally:
                await conductor.stop()
    finally:
        await db.dispose()


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
        async with _running(ComputeSync(rt)), _running(LeaseManager(rt)), \
                _running(commands):
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
        try:
            async with _running(NetworkAgent(rt)):
                await _until_signalled()
        finally:
            await conductor.stop()
            await db.dispose()
