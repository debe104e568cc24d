"""Fixtures: databases (SQLite and PostgreSQL) and real barecloud processes."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from barecloud.config import Settings
from barecloud.db.session import Database
from tests import scheduling, support

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Modules and groups as work units, the heaviest first (tests/scheduling.py)."""
    if config.getoption("dist") != "load":  # -n N alone; other --dist modes as asked
        return None
    return scheduling.make_scheduler(config, log)


def service_on(base: Path, database: str, **kwargs: object) -> Iterator[support.Service]:
    """A service on SQLite or on a fresh PostgreSQL database, for module fixtures;
    stopped (and its database dropped) afterwards."""
    url, name = None, None
    if database == "postgresql":
        why = support.pg_available()
        if why:
            if IN_CI:
                pytest.fail(f"CI needs PostgreSQL: {why}")
            pytest.skip(why)
        url, name = support.pg_create_database()
    svc = support.start_service(base / "svc", database_url=url,
                                **kwargs)  # type: ignore[arg-type]
    try:
        yield svc
    finally:
        svc.stop()
        if name:
            support.pg_drop_database(name)


@pytest.fixture(scope="session")
def pg_server() -> None:
    why = support.pg_available()
    if why:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL: {why}")
        pytest.skip(why)


@pytest.fixture
def pg_url(pg_server: None) -> Iterator[str]:
    url, name = support.pg_create_database()
    try:
        yield url
    finally:
        support.pg_drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each DB-layer and engine test runs on both databases."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite'}"
    else:
        yield request.getfixturevalue("pg_url")


async def _migrated(url: str) -> AsyncIterator[Database]:
    """The new database of ``url`` at the migrations' head, copied from a template
    (the migrations themselves are tested from nothing by tests/db)."""
    if url.startswith("sqlite"):
        shutil.copyfile(support.migrated_sqlite(), url.split("///", 1)[1])
    else:
        await support.pg_migrated(url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    async for db in _migrated(db_url):
        yield db


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    """A migrated fresh PostgreSQL database: for races only PostgreSQL has."""
    async for db in _migrated(pg_url):
        yield db


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, conductor_name="test-conductor", deadline_check_interval=3600,
        power_sync_interval=3600, conductor_heartbeat_interval=3600, work_poll_interval=0.05,
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[support.Service]:
    """The all-in-one barecloud on SQLite, on a free port."""
    svc = support.start_service(tmp_path / "svc")
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def pg_service(tmp_path: Path, pg_url: str) -> Iterator[support.Service]:
    """The all-in-one barecloud on PostgreSQL, on a free port."""
    svc = support.start_service(tmp_path / "svc", database_url=pg_url)
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def keystone_service(tmp_path: Path) -> Iterator[support.Service]:
    """The all-in-one barecloud on SQLite with Identity (tokens required)."""
    svc = support.start_service(tmp_path / "svc", auth="keystone")
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def keystone_pg_service(tmp_path: Path, pg_url: str) -> Iterator[support.Service]:
    """The all-in-one barecloud on PostgreSQL with Identity (tokens required)."""
    svc = support.start_service(tmp_path / "svc", database_url=pg_url, auth="keystone")
    try:
        yield svc
    finally:
        svc.stop()
