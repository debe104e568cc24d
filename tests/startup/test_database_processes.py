"""Which processes may share a database (docs/design/processes.md).

SQLite is one process's: ``barecloud serve`` holds ``<database>.lock`` for its
life, the CLI commands that write the file take it for theirs, and ``api``
and ``conductor`` refuse SQLite.  On PostgreSQL, processes starting together
on a fresh database migrate and bootstrap it once, in turn.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import yaml
from alembic.script import ScriptDirectory

from barecloud.db import migrate
from barecloud.db.migrate import MIGRATION_LOCK
from tests.support import free_port, start_service

pytestmark = pytest.mark.slow
BM = {"X-OpenStack-Ironic-API-Version": "latest"}


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARECLOUD_")}
    env.update({"BARECLOUD_DATA_DIR": str(data_dir), "BARECLOUD_HOST": "127.0.0.1",
                "BARECLOUD_AUTH_STRATEGY": "noauth", **extra})
    return env


def _barecloud(env: dict[str, str], *args: str, timeout: float = 60
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "barecloud", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


class _Started:
    """A ``barecloud <command>`` process, its output in a file."""

    def __init__(self, name: str, env: dict[str, str], *args: str) -> None:
        self.log = Path(env["BARECLOUD_DATA_DIR"]).parent / f"{name}.log"
        self.port = int(env.get("BARECLOUD_PORT", "0"))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "barecloud", *args], env=env,
                                         stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def answers(self, path: str) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=1).status_code \
                in (200, 503)
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture
def started() -> Iterator[list[_Started]]:
    procs: list[_Started] = []
    try:
        yield procs
    finally:
        for p in procs:
            p.stop()


def _quick_get(url: str) -> float:
    began = time.monotonic()
    rsp = httpx.get(f"{url}/baremetal/v1/nodes", headers=BM, timeout=30)
    assert rsp.status_code == 200, rsp.text
    return time.monotonic() - began


# --- SQLite ------------------------------------------------------------------------

def test_two_services_started_together_on_one_file_one_runs(
        tmp_path: Path, started: list[_Started]) -> None:
    data = tmp_path / "data"
    for name in ("one", "two"):
        started.append(_Started(name, _env(data, BARECLOUD_PORT=str(free_port()),
                                           BARECLOUD_CONDUCTOR_NAME=name), "serve"))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        exited = [p for p in started if p.proc.poll() is not None]
        serving = [p for p in started if "serving at" in p.text() and p.answers("/baremetal")]
        if exited and serving:
            break
        time.sleep(0.1)
    logs = "\n".join(p.text() for p in started)
    assert len(exited) == 1 and len(serving) == 1, logs
    refused, running = exited[0], serving[0]
    assert refused.proc.returncode == 2, refused.text()
    database = data.resolve() / "barecloud.sqlite"
    assert (f"error: the SQLite database {database} is in use by process "
            f"{running.proc.pid} (barecloud serve)") in refused.text(), refused.text()
    assert "Traceback" not in refused.text()
    lock = data / "barecloud.sqlite.lock"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert lock.read_text().split() == [str(running.proc.pid), "barecloud", "serve"]
    # The survivor serves, and quickly: nobody else writes its file.
    assert max(_quick_get(f"http://127.0.0.1:{running.port}") for _ in range(5)) < 1.0
    # Killed, it leaves no claim behind: the next service starts on the same file.
    running.proc.send_signal(signal.SIGKILL)
    running.proc.wait(timeout=10)
    svc = start_service(data, timeout=90)
    try:
        assert _quick_get(svc.url) < 1.0
        assert lock.read_text().split()[0] == str(svc.proc.pid)
    finally:
        svc.stop()
    assert lock.read_text() == ""  # a stopped service names no one


def test_commands_that_write_the_file_refuse_while_the_service_runs(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "data", timeout=90)
    env = _env(svc.data_dir)
    try:
        for args in (("db", "upgrade"), ("secrets", "rotate")):
            began = time.monotonic()
            out = _barecloud(env, *args)
            assert out.returncode == 2, (args, out.stdout, out.stderr)
            assert f"is in use by process {svc.proc.pid} (barecloud serve)" in out.stderr, \
                out.stderr
            assert "stop that process first" in out.stderr
            assert time.monotonic() - began < 20  # at once, not after a busy timeout
            assert _quick_get(svc.url) < 1.0
        assert sorted(p.name for p in (svc.data_dir / "secret-keys").iterdir()) == ["0"]
    finally:
        svc.stop()
    # Stopped, the service holds nothing: the same commands run.
    assert _barecloud(env, "db", "upgrade").returncode == 0
    rotated = _barecloud(env, "secrets", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "key 1 seals now" in rotated.stdout


@pytest.mark.parametrize("command", [["api"], ["conductor", "--name", "c1"]])
def test_api_and_conductor_refuse_sqlite(tmp_path: Path, command: list[str]) -> None:
    env = _env(tmp_path / "data", BARECLOUD_PORT=str(free_port()))
    try:
        out = _barecloud(env, *command, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"barecloud {command[0]} ran on SQLite")
    assert out.returncode == 2, out.stderr
    database = (tmp_path / "data").resolve() / "barecloud.sqlite"
    assert out.stderr.startswith(
        f"error: barecloud {command[0]} does not run on SQLite "
        f"(sqlite+aiosqlite:///{database})"), out.stderr
    assert "Run `barecloud serve`" in out.stderr
    assert "set BARECLOUD_DATABASE_URL to PostgreSQL" in out.stderr
    assert not database.exists()  # refused before anything was touched


# --- PostgreSQL --------------------------------------------------------------------

def _pg(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _fetch(url: str, sql: str) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(_pg(url))
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(run())


def test_four_processes_migrate_a_fresh_postgresql_database_at_once(
        tmp_path: Path, pg_url: str) -> None:
    async def held_while_started() -> list[subprocess.CompletedProcess[str]]:
        # The test holds the migration lock: the four start, and all wait on it.
        conn = await asyncpg.connect(_pg(pg_url))
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            env = _env(tmp_path / "data", BARECLOUD_DATABASE_URL=pg_url)
            procs = [await asyncio.create_subprocess_exec(
                sys.executable, "-m", "barecloud", "db", "upgrade", env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                for _ in range(4)]
            waiting = time.monotonic() + 60
            while await conn.fetchval(
                    "SELECT count(*) FROM pg_locks JOIN pg_database d ON d.oid = database "
                    "WHERE locktype = 'advisory' AND objid = $1 AND NOT granted "
                    "AND d.datname = current_database()", MIGRATION_LOCK) < 4:
                assert time.monotonic() < waiting, "the four did not all wait on the lock"
                assert all(p.returncode is None for p in procs)
                await asyncio.sleep(0.1)
            assert await conn.fetchval("SELECT to_regclass('alembic_version')") is None
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
            done = []
            for p in procs:
                out, err = await asyncio.wait_for(p.communicate(), 120)
                done.append(subprocess.CompletedProcess(
                    [], -1 if p.returncode is None else p.returncode, out.decode(),
                    err.decode()))
            return done
        finally:
            await conn.close()

    for out in asyncio.run(held_while_started()):
        assert out.returncode == 0, out.stderr
        assert "is at head" in out.stdout
    head = ScriptDirectory.from_config(migrate.alembic_config(pg_url)).get_current_head()
    assert [r["version_num"] for r in _fetch(pg_url, "SELECT version_num FROM alembic_version")
            ] == [head]


def test_four_processes_migrate_a_fresh_postgresql_database_unhindered(
        tmp_path: Path, pg_url: str) -> None:
    """As they start in production: together, nobody holding anything."""
    env = _env(tmp_path / "data", BARECLOUD_DATABASE_URL=pg_url)
    procs = [subprocess.Popen([sys.executable, "-m", "barecloud", "db", "upgrade"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    head = ScriptDirectory.from_config(migrate.alembic_config(pg_url)).get_current_head()
    assert [r["version_num"] for r in _fetch(pg_url, "SELECT version_num FROM alembic_version")
            ] == [head]


def test_two_api_processes_bootstrap_a_fresh_postgresql_database_once(
        tmp_path: Path, pg_url: str, started: list[_Started]) -> None:
    """Two API hosts (two data directories) start together: one admin, one demo."""
    for name in ("api-1", "api-2"):
        started.append(_Started(name, _env(
            tmp_path / name, BARECLOUD_DATABASE_URL=pg_url, BARECLOUD_PORT=str(free_port()),
            BARECLOUD_AUTH_STRATEGY="keystone"), "api"))
    deadline = time.monotonic() + 90
    while not all(p.answers("/healthz") for p in started):
        for p in started:
            assert p.proc.poll() is None, p.text()
        assert time.monotonic() < deadline, "\n".join(p.text() for p in started)
        time.sleep(0.1)
    users = _fetch(pg_url, "SELECT name FROM users ORDER BY name")
    assert [u["name"] for u in users] == ["admin", "demo"]
    projects = _fetch(pg_url, "SELECT name FROM projects ORDER BY name")
    assert [p["name"] for p in projects] == ["admin", "demo"]
    # The process that made the accounts knows their passwords; both log in with them.
    known = []
    for name in ("api-1", "api-2"):
        clouds = yaml.safe_load((tmp_path / name / "clouds.yaml").read_text())["clouds"]
        if "password" in clouds["barecloud-admin"]["auth"]:
            known.append(clouds["barecloud-admin"]["auth"])
    assert len(known) == 1, known
    auth = known[0]
    for p in started:
        rsp = httpx.post(f"http://127.0.0.1:{p.port}/identity/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": auth["password"]}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}, timeout=30)
        assert rsp.status_code == 201, rsp.text
