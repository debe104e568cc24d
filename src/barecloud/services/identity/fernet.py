"""The Fernet keys tokens are sealed with: ``<data_dir>/fernet-keys/<n>``.

Keystone's layout: one key a file, named by a number, the highest the one new
tokens are sealed with; every key opens tokens.  The first start creates key
0 (mode 0600 in a 0700 directory); keys are not rotated yet.  Every API
process of a deployment needs the same keys (a shared data directory).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet


def key_dir(data_dir: Path) -> Path:
    return data_dir / "fernet-keys"


def _create_first_key(directory: Path) -> None:
    """Write key 0 unless it exists; two processes starting together agree on one."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = directory / f".0.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, Fernet.generate_key())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, directory / "0")  # atomic, and fails if another process won
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load(data_dir: Path) -> MultiFernet:
    directory = key_dir(data_dir)
    if not any(p.name.isdigit() for p in directory.glob("*")):
        _create_first_key(directory)
    keys = sorted((p for p in directory.iterdir() if p.name.isdigit()),
                  key=lambda p: int(p.name), reverse=True)
    return MultiFernet([Fernet(p.read_bytes().strip()) for p in keys])
