"""A host agent's credential: ``hv.<hypervisor uuid>.<secret>``, kept as a digest.

The uuid says which row to check; the row keeps only the secret's SHA-256,
compared in constant time; the credential itself is shown once (enrolment)
or travels only in the hypervisor's deploy (hypervisor_nodes.py).
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.hypervisor_models import Hypervisor
from barecloud.errors import Conflict

PREFIX = "hv"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint(uuid: str) -> tuple[str, str]:
    """A new credential for hypervisor ``uuid`` and the digest to keep of it."""
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}.{uuid}.{secret}", digest(secret)


async def enrol(s: AsyncSession, row: Hypervisor) -> str:
    """Insert ``row`` in ``s`` with a new credential, which is returned (its digest is
    kept); 409 for a hostname already taken."""
    s.add(row)
    try:
        await s.flush()
    except IntegrityError:
        raise Conflict(f"A hypervisor named {row.hostname} already exists.") from None
    credential, row.credential_hash = mint(row.uuid)
    return credential
