"""Key pairs: per-user SSH public keys that go into a server's config drive.

An imported key is checked by parsing it (``cryptography``), and its
fingerprint is Nova's: the MD5 of the key blob, colon-separated.  A key
pair created without a public key is generated here (Ed25519; for ``x509``,
Nova's WinRM certificate: RSA 2048, self-signed for CN=<user>, client auth,
ten years) and its private key is returned once, never stored.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
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


UPN = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # Microsoft's user principal name


def generate_x509(user_id: str) -> tuple[str, str]:
    """Nova's ``generate_winrm_x509_cert``: (PEM private key, PEM certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    now = dt.datetime.now(dt.UTC)
    principal = f"{user_id}@localhost".encode()
    size = len(principal)  # a DER UTF8String: its tag, its length, its bytes
    length = bytes([size]) if size < 128 else \
        bytes([0x80 | ((size.bit_length() + 7) // 8)]) + size.to_bytes(
            (size.bit_length() + 7) // 8, "big")
    upn = b"\x0c" + length + principal
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.OtherName(UPN, upn)]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return private, cert.public_bytes(serialization.Encoding.PEM).decode()


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
        made = (await asyncio.to_thread(generate_x509, owner) if key_type == "x509"
                else generate())
        private_key, public_key = made
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
