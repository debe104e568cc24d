"""Password and secret hashing: scrypt, memory-hard, one salt per secret.

n=2**14, r=8 costs 16 MiB and tens of milliseconds a check, which is what
makes guessing expensive; the event loop hands the work to a thread.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
MAX_LENGTH = 4096  # Keystone's max_password_length
_MAXMEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _derive(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES,
                          maxmem=_MAXMEM)


def hash_secret(secret: str) -> str:
    """``scrypt$n$r$p$salt$key``, the parameters kept so they can change later."""
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(_derive(secret, salt, N, R, P))}"


@functools.cache
def _dummy() -> str:
    """Checked against when there is no user, so that a wrong name costs what a
    wrong password costs and the answer's timing does not tell which it was."""
    return hash_secret(secrets.token_urlsafe(16))


def verify(secret: str, stored: str | None) -> bool:
    real = stored is not None
    try:
        scheme, n, r, p, salt, key = (stored or _dummy()).split("$")
        if scheme != "scrypt":
            return False
        derived = _derive(secret, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(derived, base64.b64decode(key)) and real


async def hash_async(secret: str) -> str:
    return await asyncio.to_thread(hash_secret, secret)


async def verify_async(secret: str, stored: str | None) -> bool:
    return await asyncio.to_thread(verify, secret, stored)


def generate() -> str:
    """A random password or application credential secret."""
    return secrets.token_urlsafe(24)
