"""Assembling processes: all-in-one, API only, conductor only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from barecloud.api.app import create_app
from barecloud.conductor.engine import Conductor
from barecloud.config import Settings
from barecloud.db import migrate
from barecloud.db.session import Database
from barecloud.services.context import Runtime
from barecloud.services.dhcp import DhcpError, Dnsmasq

log = logging.getLogger("barecloud")


def write_clouds_yaml(settings: Settings) -> Path:
    """A clouds.yaml for the ``openstack`` CLI and openstacksdk (no-auth until Identity)."""
    base = settings.base_url
    cloud: dict[str, Any] = {
        "auth_type": "none",
        "baremetal_endpoint_override": f"{base}/baremetal",
        # Unversioned, as Glance's catalog entry: clients discover v2 there.
        "image_endpoint_override": f"{base}/image",
        # No Identity service yet: without this, `openstack image ...` (which
        # builds an identity client for --project) fails on version discovery.
        "has_identity": False,
        "region_name": "RegionOne",
    }
    path = settings.data_dir / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"barecloud": cloud}}, sort_keys=False))
    return path


async def prepare(settings: Settings) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await migrate.upgrade_async(settings.effective_database_url)
    return Database(settings.effective_database_url, pool_size=settings.db_pool_size,
                    busy_timeout_ms=settings.sqlite_busy_timeout_ms)


async def _serve_http(rt: Runtime, settings: Settings, ready: Callable[[], Awaitable[None]]
                      | None) -> None:
    config = uvicorn.Config(
        create_app(rt), host=settings.host, port=settings.port, log_level="warning",
        access_log=False, lifespan="off", loop="asyncio", timeout_keep_alive=30,
        backlog=4096,
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


async def run_all_in_one(
    settings: Settings, ready: Callable[[Runtime], Awaitable[None]] | None = None
) -> None:
    db = await prepare(settings)
    conductor = Conductor(db, settings)
    async with _dhcp(settings):
        await conductor.start()
        rt = Runtime(db=db, settings=settings, local_conductor=conductor)
        try:
            await _serve_http(rt, settings, (lambda: ready(rt)) if ready else None)
        finally:
            await conductor.stop()
            await db.dispose()


async def run_api(settings: Settings) -> None:
    db = await prepare(settings)
    rt = Runtime(db=db, settings=settings)
    try:
        await _serve_http(rt, settings, None)
    finally:
        await db.dispose()


async def run_conductor(settings: Settings) -> None:
    db = await prepare(settings)
    conductor = Conductor(db, settings)
    async with _dhcp(settings):
        await conductor.start()
        log.warning("conductor %s running (pid %d)", conductor.name, os.getpid())
        try:
            await _until_signalled()
        finally:
            await conductor.stop()
            await db.dispose()
