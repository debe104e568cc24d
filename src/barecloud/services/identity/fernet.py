"""The Fernet keys tokens are sealed with: ``<data_dir>/fernet-keys/<n>``.

Keystone's layout: one key a file, named by a number, the highest the one new
tokens are sealed with; every key opens tokens.  The first start creates key
0 (mode 0600 in a 0700 directory); keys are not rotated yet.  Every API
process of a deployment needs the same keys (a shared data directory).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from barecloud import keyfiles


def key_dir(data_dir: Path) -> Path:
    return data_dir / "fernet-keys"


def _create_first_key(directory: Path) -> None:
    """Write key 0 unless it exists; two processes starting together agree on one."""
    keyfiles.create_once(directory / "0", Fernet.generate_key())


def load(data_dir: Path) -> MultiFernet:
    directory = key_dir(data_dir)
    if not any(p.name.isdigit() for p in directory.glob("*")):
        _create_first_key(directory)
    keys = sorted((p for p in directory.iterdir() if p.name.isdigit()),
                  key=lambda p: int(p.name), reverse=True)
    return MultiFernet([Fernet(p.read_bytes().strip()) for p in keys])
