"""The data directory is the service's alone: 0700, and nothing in it readable by
group or others.

It holds the database (BMC passwords sealed, but also user data, agent tokens
and password hashes), images, boot scripts with agent tokens, dnsmasq's
files, the lab's machines and the keys.  A start makes it so for what an
older barecloud (or a wide umask) left, and sets the umask to 077 so that
what the service and its children create next is private too; the files
that matter most are also created 0600 explicitly (``create_private``), so
that a library user with another umask gets the same.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def restrict(data_dir: Path) -> int:
    """Make ``data_dir`` 0700 and strip group/other bits below it (symlinks are not
    followed); return how many entries changed."""
    os.umask(PRIVATE_UMASK)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    changed = _strip(data_dir)
    for root, dirs, files in os.walk(data_dir):
        for name in (*dirs, *files):
            changed += _strip(Path(root) / name)
    return changed


def _strip(path: Path) -> int:
    with contextlib.suppress(FileNotFoundError):
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not mode & 0o077:
            return 0
        os.chmod(path, stat.S_IMODE(mode) & ~0o077)
        return 1
    return 0


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (then make it 0600):
    before SQLite opens a database, which gives its -wal and -shm its mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def open_private(path: Path) -> int:
    """A new file, exclusive, mode 0600 whatever the umask: its descriptor."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def private_sqlite(url: str) -> None:
    """The SQLite database of ``url`` (if it is one) exists, mode 0600."""
    if url.startswith("sqlite") and ":///" in url:
        create_private(Path(url.split(":///", 1)[1].split("?", 1)[0]))
