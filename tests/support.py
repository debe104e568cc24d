"""Helpers for tests: free ports, PostgreSQL databases, a real barecloud process."""

from __future__ import annotations

import atexit
import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests import preloaded

PG_ADMIN_DSN = os.environ.get("BARECLOUD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parent.parent


# Ports the tests give out: below the lab's (15000 up) and far below the kernel's
# ephemeral range, so no outgoing connection takes one between the pick and the
# bind.  Each pytest-xdist worker owns its own slice of each range.
SERVICE_PORTS = range(10000, 15000)
LAB_PORTS = range(20000, 32000)


def worker_slot() -> tuple[int, int]:
    """(this pytest-xdist worker's index, the number of workers); (0, 1) without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0
    return index % max(count, 1), max(count, 1)


def worker_ports(ports: range) -> range:
    """This worker's slice of ``ports``: two workers never pick the same port."""
    index, count = worker_slot()
    size = len(ports) // count
    return range(ports.start + index * size, ports.start + (index + 1) * size)


def port_free(port: int) -> bool:
    """Nothing holds ``port`` on loopback, TCP or UDP (BMCs take UDP ones)."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


_cursor: list[int] = []


def free_port() -> int:
    """A free port of this worker's slice, a new one each call until the slice wraps
    (so a port a stopped test used is not handed out again at once).  The start is
    random: two test runs on one host (two worktrees) seldom meet."""
    ports = worker_ports(SERVICE_PORTS)
    if not _cursor:
        _cursor.append(random.randrange(len(ports)))
    for _ in range(len(ports)):
        _cursor[0] = (_cursor[0] + 1) % len(ports)
        if port_free(ports[_cursor[0]]):
            return ports[_cursor[0]]
    raise RuntimeError(f"no free port in {ports}")


def pg_available() -> str | None:
    """None if PostgreSQL answers, else why not."""
    import asyncio

    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
        return None
    except Exception as exc:  # any failure means: no usable server
        return f"PostgreSQL at {PG_ADMIN_DSN} does not answer: {exc}"


async def _pg_admin_async(*statements: str) -> None:
    """Run statements on the admin database (CREATE/DROP DATABASE need their own)."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _pg_admin(sql: str) -> None:
    import asyncio

    asyncio.run(_pg_admin_async(sql))


def pg_create_database() -> tuple[str, str]:
    """Create a fresh database; return (SQLAlchemy URL, name)."""
    name = f"bc_test_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}", name


def pg_drop_database(name: str) -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_PG_TEMPLATE: list[str] = []


async def pg_migrated(url: str) -> None:
    """Make the (empty, unused) database of ``url`` a copy of one at the migrations'
    head, as :func:`migrated_sqlite` does for SQLite: a copy of a template this
    process migrated once costs PostgreSQL a file copy, where running every
    migration again cost ~0.3 s of CPU here and as much in the server (hundreds of
    database tests).  The template is this process's own (another test process or
    another run may be copying theirs); it is dropped at exit."""
    from barecloud.db import migrate

    base, name = url.rsplit("/", 1)
    if not _PG_TEMPLATE:
        template = f"bc_template_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        await _pg_admin_async(f'CREATE DATABASE "{template}"')
        await migrate.upgrade_async(f"{base}/{template}")
        _PG_TEMPLATE.append(template)
        atexit.register(pg_drop_database, template)
    await _pg_admin_async(f'DROP DATABASE "{name}"',
                          f'CREATE DATABASE "{name}" TEMPLATE "{_PG_TEMPLATE[0]}"')


# Where ``serve --lab N --netns`` listens: its address on the provisioning network.
NETNS_HOST = "10.97.0.1"


@dataclass
class Service:
    """A ``barecloud serve`` process started by a test, stopped by its PID.

    With ``auth="keystone"``, ``token()`` logs in as a cloud of the clouds.yaml
    the service wrote (``barecloud-admin``: the admin of project admin;
    ``barecloud``: demo, member of project demo).
    """

    url: str
    data_dir: Path
    proc: preloaded.Child | subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    auth: str = "noauth"
    cmd: list[str] = field(default_factory=list)

    @property
    def baremetal(self) -> str:
        return f"{self.url}/baremetal"

    @property
    def identity(self) -> str:
        return f"{self.url}/identity/v3"

    @property
    def clouds_yaml(self) -> Path:
        return self.data_dir / "clouds.yaml"

    def credentials(self, cloud: str = "barecloud-admin") -> dict[str, Any]:
        """The ``auth`` section of ``cloud`` in the written clouds.yaml."""
        auth: dict[str, Any] = yaml.safe_load(self.clouds_yaml.read_text())["clouds"][cloud]["auth"]
        return auth

    def token(self, cloud: str = "barecloud-admin", scope: dict[str, Any] | None = None) -> str:
        """A token for ``cloud``'s user, scoped to its project unless ``scope`` says."""
        auth = self.credentials(cloud)
        body: dict[str, Any] = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "domain": {"id": auth["user_domain_id"]},
                "password": auth["password"]}}},
            "scope": scope or {"project": {"name": auth["project_name"],
                                           "domain": {"id": auth["project_domain_id"]}}},
        }}
        rsp = httpx.post(f"{self.identity}/auth/tokens", json=body, timeout=30)
        assert rsp.status_code == 201, rsp.text
        return rsp.headers["X-Subject-Token"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                # A service killed before its stop ends leaves its namespaces
                # behind: with 20 s, a netns service of a loaded CI run left a
                # DHCP namespace (its log now says how long a stop takes).
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def restart(self, timeout: float = 60) -> None:
        """Stop (SIGTERM) and start ``serve`` again as it was: the same command, port
        and data directory; this object then names the new process."""
        self.stop()
        again = _launch(self.data_dir, self.cmd, self.env, self.url, timeout)
        self.proc, self.log_path = again.proc, again.log_path


def start_service(
    data_dir: Path, *, database_url: str | None = None, lab: int = 0,
    extra_env: dict[str, str] | None = None, port: int | None = None, auth: str = "noauth",
    netns: bool = False, rate: str | None = None, timeout: float = 60, hypervisors: int = 0,
    switch: str | None = None,
) -> Service:
    """Start ``barecloud serve``; ``auth="keystone"`` for tokens (tests about something
    else speak without them).  ``netns``: the lab in namespaces, served on the
    provisioning address (root); ``rate``: every lab cable shaped (``--rate``);
    ``hypervisors``: that many lab machines deployed as hypervisors; ``switch``: what
    plays the netns lab's switch (``--switch``).
    A port this function picked that another process took meanwhile (a test run
    in another worktree) is picked again."""
    tries = 1 if port else 3
    for tried in range(1, tries + 1):
        try:
            return _start(data_dir, port or free_port(), database_url, lab, extra_env, auth,
                          netns, rate, timeout, hypervisors, switch)
        except PortTaken:
            if tried == tries:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    """``barecloud serve`` could not listen: something else has its port."""


_TEMPLATE: Path | None = None


def migrated_sqlite() -> Path:
    """A SQLite database at the migrations' head, made once per test process.

    Services the tests start on SQLite begin from a copy of it rather than running
    every migration again (~0.8 s of a 4 s start, hundreds of starts per run); the
    migrations themselves are tested by tests/db and the `db upgrade` tests, which
    start from nothing.
    """
    global _TEMPLATE
    if _TEMPLATE is None:
        versions = REPO / "src/barecloud/db/migrations/versions"
        digest = hashlib.sha1(b"".join(f.read_bytes() for f in sorted(versions.glob("*.py"))))
        where = Path(tempfile.mkdtemp(prefix=f"barecloud-migrated-{digest.hexdigest()[:8]}-"))
        atexit.register(shutil.rmtree, where, True)
        subprocess.run([sys.executable, "-m", "barecloud", "db", "upgrade", "--data-dir",
                        str(where)], check=True, capture_output=True, timeout=300)
        _TEMPLATE = where / "barecloud.sqlite"
    return _TEMPLATE


def _start(
    data_dir: Path, port: int, database_url: str | None, lab: int,
    extra_env: dict[str, str] | None, auth: str, netns: bool, rate: str | None,
    timeout: float, hypervisors: int, switch: str | None = None,
) -> Service:
    env = dict(os.environ)
    env.update({
        "BARECLOUD_DATA_DIR": str(data_dir),
        "BARECLOUD_PORT": str(port),
        "BARECLOUD_HOST": "127.0.0.1",
        "BARECLOUD_CONDUCTOR_NAME": f"test-conductor-{port}",
        "BARECLOUD_AUTH_STRATEGY": auth,
    })
    if database_url:
        env["BARECLOUD_DATABASE_URL"] = database_url
    env.update(extra_env or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "barecloud.sqlite"
    if "BARECLOUD_DATABASE_URL" not in env and not database.exists():
        shutil.copyfile(migrated_sqlite(), database)
        database.chmod(0o600)
    cmd = [sys.executable, "-m", "barecloud", "serve"]
    if lab:
        cmd += ["--lab", str(lab)]
    if netns:
        cmd += ["--netns"]
    if rate:
        cmd += ["--rate", rate]
    if hypervisors:
        cmd += ["--hypervisors", str(hypervisors)]
    if switch:
        cmd += ["--switch", switch]
    host = NETNS_HOST if netns else "127.0.0.1"
    return _launch(data_dir, cmd, env, f"http://{host}:{port}", timeout)


def _launch(data_dir: Path, cmd: list[str], env: dict[str, str], url: str,
            timeout: float) -> Service:
    """Run ``cmd`` and wait until it serves at ``url``."""
    log_path = data_dir / f"service-{env['BARECLOUD_PORT']}.log"
    # A restart appends to the same log: its own "serving at" is one more.
    served = log_path.read_text(errors="replace").count("serving at") if log_path.exists() else 0
    with log_path.open("ab") as log:
        proc = preloaded.popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                               cwd=str(data_dir))
    svc = Service(url, data_dir, proc, log_path, env, env["BARECLOUD_AUTH_STRATEGY"], cmd)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = svc.log()
            why = PortTaken if "could not listen on" in text else RuntimeError
            raise why(f"barecloud exited with {proc.returncode}:\n{text}")
        try:
            if httpx.get(f"{svc.baremetal}", timeout=1).status_code == 200 and (
                svc.clouds_yaml.exists()
            ) and svc.log().count("serving at") > served:
                return svc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    svc.kill()
    raise RuntimeError(f"barecloud did not start in {timeout:g} s:\n{svc.log()}")
