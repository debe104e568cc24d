"""Key files: processes (here threads) starting together all end up with one key."""

from __future__ import annotations

import os
import secrets
import stat
import threading
from pathlib import Path

from barecloud import keyfiles


def test_racers_agree_on_one_private_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    got: list[bytes] = []

    def make() -> None:
        keyfiles.create_once(path, secrets.token_bytes(32))
        got.append(path.read_bytes())

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1 and len(got[0]) == 32
    assert os.listdir(path.parent) == ["k"]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_key_is_kept_and_its_directory_made_private(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    path.parent.mkdir(mode=0o755)
    keyfiles.create_once(path, b"first")
    keyfiles.create_once(path, b"second")
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
