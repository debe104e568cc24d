"""Who may run on this database: the refusals of the server-side commands.

SQLite is one process's (the embedded engine runs on the event loop and
would wait there for another process's writes; see ``db/sqlite_lock.py``):
``serve`` and the commands that write the file hold its lock, and ``api`` and
``conductor``, which share their database with other processes, refuse it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from barecloud.config import Settings
from barecloud.db import sqlite_lock
from barecloud.db.session import is_sqlite


class Refused(Exception):
    """The command may not run here or now; the message says why (exit status 2)."""


def safe_url(url: str) -> str:
    """A database URL without its password, for printing."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:******@{host}" if ":" in creds else url


@contextlib.contextmanager
def alone_on(settings: Settings, command: str) -> Iterator[None]:
    """Hold the SQLite database's lock for the block, or refuse naming its holder
    (nothing to hold on PostgreSQL: its writers wait on row locks, not on the loop)."""
    try:
        lock = sqlite_lock.acquire(settings.effective_database_url, command)
    except sqlite_lock.InUse as exc:
        raise Refused(str(exc)) from None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def require_scale_out(settings: Settings, command: str) -> None:
    """``api`` and ``conductor`` share their database with other processes: not SQLite."""
    url = settings.effective_database_url
    if is_sqlite(url):
        raise Refused(
            f"barecloud {command} does not run on SQLite ({safe_url(url)}): "
            f"the api and conductor processes scale out over PostgreSQL, and a SQLite "
            f"database is one process's. Run `barecloud serve` (the all-in-one service) "
            f"on SQLite, or set BARECLOUD_DATABASE_URL to PostgreSQL, e.g. "
            f"postgresql+asyncpg://barecloud@db/barecloud")
