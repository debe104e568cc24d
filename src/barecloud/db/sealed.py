"""Secrets sealed in the database: BMC passwords in ``driver_info``, and the blobs
of Identity credentials (``credentials.blob``, always sealed).

A ``driver_info`` value whose key names a secret (``password``, ``secret``,
``token``, as the API masks them) is stored as ``sealed:<Fernet token>``.
The keys live in ``<data_dir>/secret-keys/<n>`` (Keystone's repository
layout, apart from the token keys: 0600 files in a 0700 directory); the
highest number seals, every key opens.  A value without the prefix is a
plaintext row of an older barecloud: it is read as it is, and sealed at the
next start (``seal_plaintext``).  ``rotate`` adds a key, seals every row
with it and retires the others.  See docs/design/secrets.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select

from barecloud import keyfiles
from barecloud.db.identity_models import Credential, DomainConfig
from barecloud.db.models import Node
from barecloud.db.session import Database

PREFIX = "sealed:"
SECRET_WORDS = ("password", "secret", "token")


class SealedError(Exception):
    """A sealed value that no key of the repository opens."""


def key_dir(data_dir: Path) -> Path:
    return data_dir / "secret-keys"


def is_secret(key: str) -> bool:
    return any(word in key.lower() for word in SECRET_WORDS)


def _key_numbers(directory: Path) -> list[int]:
    try:
        return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())
    except FileNotFoundError:
        return []


def _write_key(directory: Path, number: int) -> None:
    """Key ``number`` unless it exists (two processes starting together agree on one)."""
    keyfiles.create_once(directory / str(number), Fernet.generate_key())


@dataclass(frozen=True)
class Keyring:
    primary: Fernet
    every: MultiFernet
    numbers: tuple[int, ...]

    def seal(self, value: str) -> str:
        return PREFIX + self.primary.encrypt(value.encode()).decode()

    def open(self, value: Any) -> Any:
        if not isinstance(value, str) or not value.startswith(PREFIX):
            return value  # not sealed: a plaintext row of an older barecloud
        try:  # about 7 us: a power sync of 10,000 nodes opens them in 0.07 s
            return self.every.decrypt(value[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise SealedError("a sealed value opens with no key of the secret-keys "
                              "repository") from None

    def sealed_by_primary(self, value: str) -> bool:
        try:
            self.primary.decrypt(value[len(PREFIX):].encode())
        except InvalidToken:
            return False
        return True

    def seal_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """``info`` with every plaintext secret sealed (sealed ones kept as they are)."""
        return {k: self.seal(v) if is_secret(k) and isinstance(v, str) and v
                and not v.startswith(PREFIX) else v for k, v in info.items()}

    def open_info(self, info: dict[str, Any]) -> dict[str, Any]:
        return {k: self.open(v) if is_secret(k) else v for k, v in info.items()}


_cache: dict[Path, tuple[int | None, Keyring]] = {}


def keyring(data_dir: Path) -> Keyring:
    """The data directory's keys, key 0 created on first use; read again whenever
    the repository changes (a rotation by another process)."""
    directory = key_dir(data_dir).absolute()
    try:
        stamp = directory.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    cached = _cache.get(directory)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    if not _key_numbers(directory):
        _write_key(directory, 0)
        stamp = directory.stat().st_mtime_ns
    numbers = _key_numbers(directory)
    fernets = [Fernet((directory / str(n)).read_bytes().strip()) for n in reversed(numbers)]
    ring = Keyring(fernets[0], MultiFernet(fernets), tuple(numbers))
    _cache[directory] = (stamp, ring)
    return ring


async def seal_plaintext(db: Database, keys: Keyring) -> int:
    """Seal the secrets rows still hold in plaintext; return how many rows changed."""
    return await _reseal(db, keys, lambda v: not v.startswith(PREFIX))


async def _reseal(db: Database, keys: Keyring, stale: Callable[[str], bool]) -> int:
    changed = 0
    async with db.session() as s:
        for cred in (await s.scalars(select(Credential))).all():
            if stale(cred.blob):
                cred.blob = keys.seal(keys.open(cred.blob))
                changed += 1
        for node in (await s.scalars(select(Node))).all():
            info = dict(node.driver_info or {})
            todo = [k for k, v in info.items() if is_secret(k) and isinstance(v, str) and v
                    and stale(v)]
            if not todo:
                continue
            for key in todo:
                info[key] = keys.seal(keys.open(info[key]))
            node.driver_info = info
            changed += 1
        for config in (await s.scalars(select(DomainConfig))).all():
            # An LDAP bind password of a domain's configuration (domain_configs.py).
            ldap = dict(config.config.get("ldap") or {})
            if isinstance(ldap.get("password"), str) and stale(ldap["password"]):
                ldap["password"] = keys.seal(keys.open(ldap["password"]))
                config.config = {**config.config, "ldap": ldap}
                changed += 1
    return changed


async def rotate(db: Database, data_dir: Path) -> tuple[int, list[int], int]:
    """Add a primary key, seal every secret with it, retire the older keys; return
    (the new key, the keys retired, the rows resealed)."""
    directory = key_dir(data_dir)
    old = keyring(data_dir)
    new = max(old.numbers) + 1
    _write_key(directory, new)
    keys = keyring(data_dir)
    assert max(keys.numbers) == new

    def stale(value: str) -> bool:
        return not value.startswith(PREFIX) or not keys.sealed_by_primary(value)

    count = await _reseal(db, keys, stale)
    # A second pass: a service that sealed with the old key meanwhile.
    count += await _reseal(db, keys, stale)
    retired = [n for n in keys.numbers if n != new]
    for number in retired:
        (directory / str(number)).unlink(missing_ok=True)
    return new, retired, count
