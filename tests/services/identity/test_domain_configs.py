"""A domain configuration's LDAP password: sealed when written, resealed by a key
rotation like the other secrets, never shown."""

from __future__ import annotations

from barecloud.config import Settings
from barecloud.db import sealed
from barecloud.db.identity_models import DEFAULT_DOMAIN, Domain, DomainConfig
from barecloud.db.session import Database
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domain_configs

ADMIN = RequestContext(request_id="req-test", user="admin")


async def test_rotation_reseals_the_ldap_password(database: Database,
                                                  settings: Settings) -> None:
    rt = Runtime(db=database, settings=settings)
    async with database.session() as s:
        s.add(Domain(id=DEFAULT_DOMAIN, name="Default"))
    shown, created = await domain_configs.replace(rt, ADMIN, DEFAULT_DOMAIN, {"config": {
        "ldap": {"url": "ldap://a/", "password": "bind-secret"}}})
    assert created and shown == {"ldap": {"url": "ldap://a/"}}
    async with database.session() as s:
        before = (await s.get(DomainConfig, DEFAULT_DOMAIN)).config["ldap"]  # type: ignore[union-attr]
    assert before["password"].startswith(sealed.PREFIX) and "bind-secret" not in str(before)
    assert (await sealed.rotate(database, settings.data_dir))[2] == 1
    async with database.session() as s:
        after = (await s.get(DomainConfig, DEFAULT_DOMAIN)).config["ldap"]  # type: ignore[union-attr]
    keys = sealed.keyring(settings.data_dir)
    assert after["password"] != before["password"] and keys.sealed_by_primary(after["password"])
    assert keys.open(after["password"]) == "bind-secret" and after["url"] == "ldap://a/"
    assert await domain_configs.get(rt, ADMIN, DEFAULT_DOMAIN) == {"ldap": {"url": "ldap://a/"}}
