"""Key pairs: per-user SSH public keys that go into a server's config drive.

An imported key is checked by parsing it (``cryptography``), and its
fingerprint is Nova's: the MD5 of the key blob, colon-separated.  A key
pair created without a public key is generated here (Ed25519) and its
private key is returned once, never stored.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.compute_models import KeyPair
from barecloud.errors import Conflict, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.compute import quotas
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.tenancy import user_of


@dataclass
class Created:
    keypair: KeyPair
    private_key: str | None


def fingerprint(public_key: str, key_type: str = "ssh") -> str:
    """Nova's fingerprint; 400 if the key cannot be parsed."""
    try:
        if key_type == "x509":
            cert = x509.load_pem_x509_certificate(public_key.encode())
            digest = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        else:
            serialization.load_ssh_public_key(public_key.strip().encode())
            blob = base64.b64decode(public_key.strip().split()[1])
            digest = hashlib.md5(blob).hexdigest()
    except (ValueError, IndexError, TypeError, UnicodeError):
        raise InvalidParameter(
            "Keypair data is invalid: failed to generate fingerprint"
        ) from None
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def generate() -> tuple[str, str]:
    """A new Ed25519 key: (OpenSSH private key, public key line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return private, public


def _owner(ctx: RequestContext, user_id: str | None) -> str:
    return user_id if user_id else user_of(ctx)


async def find(s: AsyncSession, user_id: str, name: str) -> KeyPair:
    keypair = await s.scalar(select(KeyPair).where(KeyPair.user_id == user_id,
                                                   KeyPair.name == name))
    if keypair is None:
        raise NotFound(f"Keypair {name} not found for user {user_id}")
    return keypair


async def get(rt: Runtime, ctx: RequestContext, name: str,
              user_id: str | None = None) -> KeyPair:
    owner = _owner(ctx, user_id)
    policy.authorize(ctx, "compute:keypairs:show", {"user_id": owner})
    async with rt.db.session() as s:
        return await find(s, owner, name)


async def list_keypairs(rt: Runtime, ctx: RequestContext, user_id: str | None = None,
                        limit: int | None = None, marker: str | None = None) -> list[KeyPair]:
    owner = _owner(ctx, user_id)
    policy.authorize(ctx, "compute:keypairs:list", {"user_id": owner})
    q = select(KeyPair).where(KeyPair.user_id == owner).order_by(KeyPair.name)
    async with rt.db.session() as s:
        if marker is not None:
            if not await s.scalar(select(KeyPair.id).where(KeyPair.user_id == owner,
                                                           KeyPair.name == marker)):
                raise InvalidParameter(f"marker [{marker}] not found")
            q = q.where(KeyPair.name > marker)
        cap = rt.settings.api_max_limit
        limit = cap if limit is None else min(limit, cap)  # 0: none, as Nova
        return list((await s.scalars(q.limit(limit))).all())


async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any]) -> Created:
    """``body`` fits schemas.CREATE_KEYPAIR at the request's version."""
    data = body["keypair"]
    name: str = data["name"]
    key_type: str = data.get("type") or "ssh"
    public_key: str | None = data.get("public_key")
    owner = _owner(ctx, data.get("user_id"))
    policy.authorize(ctx, "compute:keypairs:create", {"user_id": owner})
    private_key = None
    if public_key is None:
        if key_type == "x509":
            raise InvalidParameter("Keypair generation is only possible for type 'ssh'; "
                                   "import an x509 certificate as public_key.")
        private_key, public_key = generate()
    keypair = KeyPair(user_id=owner, name=name, public_key=public_key, type=key_type,
                      fingerprint=fingerprint(public_key, key_type))
    exists = Conflict(f"Key pair '{name}' already exists.")
    try:
        async with rt.db.session() as s:
            if await s.scalar(select(KeyPair.id).where(KeyPair.user_id == owner,
                                                       KeyPair.name == name)):
                raise exists
            count = await s.scalar(select(func.count(KeyPair.id))
                                   .where(KeyPair.user_id == owner)) or 0
            limit = await quotas.limit_of(s, ctx.project, "key_pairs")
            if 0 <= limit <= count:
                raise quotas.OverQuota("Quota exceeded, too many key pairs.")
            s.add(keypair)
    except IntegrityError:  # the same name created meanwhile
        raise exists from None
    return Created(keypair, private_key)


async def remove(rt: Runtime, ctx: RequestContext, name: str,
                 user_id: str | None = None) -> None:
    owner = _owner(ctx, user_id)
    policy.authorize(ctx, "compute:keypairs:delete", {"user_id": owner})
    async with rt.db.session() as s:
        keypair = await find(s, owner, name)
        await s.execute(delete(KeyPair).where(KeyPair.id == keypair.id))


async def public_key_of(rt: Runtime, ctx: RequestContext, name: str) -> str:
    """The public key of the requester's key pair ``name`` (for a server); 400 if none."""
    async with rt.db.session() as s:
        keypair = await s.scalar(select(KeyPair).where(KeyPair.user_id == user_of(ctx),
                                                       KeyPair.name == name))
    if keypair is None:
        raise InvalidParameter("Invalid key_name provided.")
    return keypair.public_key
