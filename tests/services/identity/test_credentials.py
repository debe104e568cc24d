"""Credential blobs: sealed when written, resealed by a key rotation like BMC secrets."""

from __future__ import annotations

from sqlalchemy import select

from barecloud.config import Settings
from barecloud.db import sealed
from barecloud.db.identity_models import DEFAULT_DOMAIN, Credential, Domain
from barecloud.db.session import Database
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import credentials, users

ADMIN = RequestContext(request_id="req-test", user="admin")
BLOB = '{"access": "a-key", "secret": "the-secret"}'


async def test_rotation_reseals_credentials(database: Database, settings: Settings) -> None:
    rt = Runtime(db=database, settings=settings)
    async with database.session() as s:
        s.add(Domain(id=DEFAULT_DOMAIN, name="Default"))
    user = await users.create(rt, ADMIN, {"user": {"name": "owner"}})
    made, shown = await credentials.create(rt, ADMIN, {"credential": {
        "user_id": user.id, "type": "ec2", "blob": BLOB}})
    assert shown == BLOB and made.blob.startswith(sealed.PREFIX) and "the-secret" not in made.blob
    new, retired, count = await sealed.rotate(database, settings.data_dir)
    assert (new, retired, count) == (1, [0], 1)
    async with database.session() as s:
        stored = await s.scalar(select(Credential.blob).where(Credential.id == made.id))
    assert stored is not None and stored != made.blob
    assert sealed.keyring(settings.data_dir).sealed_by_primary(stored)
    assert (await credentials.get(rt, ADMIN, made.id))[1] == BLOB
