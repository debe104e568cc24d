"""One process at a time on a SQLite database: an ``flock`` on ``<database>.lock``.

The embedded service runs SQLite calls inline on its event loop
(``session.InlineSQLiteConnection``): a write held by another process makes
the loop wait in SQLite's busy handler, every request with it, for up to
the busy timeout; two services started together on a fresh file both
migrate it and one crashes (``table ... already exists``).  So ``barecloud
serve`` holds this lock for its whole life, taken before anything else
(migrations, the lab), and the CLI commands that write the database take it
for theirs: a second one is refused at once, naming the holder.

The lock is on a file of its own, not on the database: SQLite's own POSIX
locks on the database must not be disturbed (closing any descriptor of a
file drops every POSIX lock the process holds on it).  ``flock`` is released
by the kernel when its holder dies, whatever the way; the pid written in the
file is only there to be named in the refusal.  The descriptor is not
inherited (PEP 446), so children (dnsmasq, the lab) do not keep it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from barecloud.db.session import is_sqlite

# path -> the lock this process holds on it
_held: dict[Path, SqliteLock] = {}


class InUse(Exception):
    """Another process holds the database."""

    def __init__(self, database: Path, lock: Path, pid: int | None, holder: str) -> None:
        self.database, self.lock, self.pid, self.holder = database, lock, pid, holder
        by = f"process {pid}" if pid else "another process"
        if holder:
            by += f" ({holder})"
        super().__init__(
            f"the SQLite database {database} is in use by {by}, which holds {lock}; "
            "SQLite is one process's database: stop that process first, or point "
            "BARECLOUD_DATABASE_URL at PostgreSQL to run several")


def database_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and for in-memory SQLite."""
    if not is_sqlite(url):
        return None
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        return None
    return Path(name).absolute()


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@dataclass
class SqliteLock:
    database: Path
    path: Path
    fd: int

    def release(self) -> None:
        """Clear the pid (a released lock names no one), then unlock and close."""
        if _held.get(self.path) is self:
            del _held[self.path]
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
        os.close(self.fd)  # drops the flock


def held(url: str) -> bool:
    """Whether this process holds the lock of ``url``'s SQLite file."""
    database = database_path(url)
    return database is not None and lock_path(database) in _held


def acquire(url: str, holder: str) -> SqliteLock | None:
    """The lock of ``url``'s SQLite file (None when ``url`` is no SQLite file), or
    ``InUse`` at once if another process (or another holder here) has it."""
    database = database_path(url)
    if database is None:
        return None
    path = lock_path(database)
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Private like the database (services/private_files.py): 0600 whatever the umask.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            pid, what = _holder(fd)
            raise InUse(database, path, pid, what) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n{holder}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    lock = SqliteLock(database, path, fd)
    _held[path] = lock
    return lock


def _holder(fd: int, wait: float = 1.0) -> tuple[int | None, str]:
    """The pid and command the holder wrote (it writes them just after locking:
    give it a moment)."""
    deadline = time.monotonic() + wait
    while True:
        lines = os.pread(fd, 4096, 0).decode(errors="replace").splitlines()
        if lines and lines[0].strip().isdigit():
            return int(lines[0]), (lines[1].strip() if len(lines) > 1 else "")
        if time.monotonic() >= deadline:
            return None, ""
        time.sleep(0.05)


@contextlib.contextmanager
def exclusive(url: str, holder: str) -> Iterator[None]:
    """Hold ``url``'s SQLite lock for the block (nothing for PostgreSQL)."""
    lock = acquire(url, holder)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()
