"""BMC passwords are sealed in the database, opened for drivers only, rotatable."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, update

from barecloud.conductor.node_views import node_view
from barecloud.config import Settings
from barecloud.db import sealed, sqlite_lock
from barecloud.db.models import Node
from barecloud.db.session import Database
from barecloud.services.baremetal import nodes
from barecloud.services.context import RequestContext, Runtime
from barecloud.startup.processes import prepare

CTX = RequestContext(request_id="req-test", user="tester")
IPMI_SECRET = "Ipmi-Secret-7x"
REDFISH_SECRET = "Redfish-Secret-8y"


async def raw_info(db: Database, uuid: str) -> dict[str, Any]:
    async with db.session() as s:
        info = await s.scalar(select(Node.driver_info).where(Node.uuid == uuid))
    return dict(info or {})


async def enroll(rt: Runtime) -> str:
    node = await nodes.create(rt, CTX, {"driver": "ipmi", "driver_info": {
        "ipmi_address": "127.0.0.1", "ipmi_username": "admin", "ipmi_password": IPMI_SECRET,
        "redfish_password": REDFISH_SECRET, "console_log": "/var/log/x"}}, initial="enroll")
    return node.uuid


async def test_secrets_are_sealed_on_write_and_opened_for_drivers(
    database: Database, settings: Settings,
) -> None:
    rt = Runtime(db=database, settings=settings)
    uuid = await enroll(rt)
    stored = await raw_info(database, uuid)
    for key in ("ipmi_password", "redfish_password"):
        assert stored[key].startswith(sealed.PREFIX)
    assert IPMI_SECRET not in str(stored) and REDFISH_SECRET not in str(stored)
    assert stored["console_log"] == "/var/log/x"  # not a secret: left as it is
    keys = sealed.keyring(settings.data_dir)
    async with database.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == uuid))
        assert node is not None
        view = node_view(node, keys, with_ports=False)
    assert view.driver_info["ipmi_password"] == IPMI_SECRET
    assert view.driver_info["redfish_password"] == REDFISH_SECRET

    # A patch of another key keeps the sealed value; a new password is sealed.
    await nodes.update(rt, CTX, uuid, [{"op": "add", "path": "/driver_info/ipmi_port",
                                        "value": 6230}])
    assert (await raw_info(database, uuid))["ipmi_password"] == stored["ipmi_password"]
    await nodes.update(rt, CTX, uuid, [{"op": "replace", "path": "/driver_info/ipmi_password",
                                        "value": "Changed-Secret"}])
    after = await raw_info(database, uuid)
    assert after["ipmi_password"].startswith(sealed.PREFIX)
    assert keys.open(after["ipmi_password"]) == "Changed-Secret"

    key_dir = sealed.key_dir(settings.data_dir)
    assert os.stat(key_dir).st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in key_dir.iterdir())


async def test_plaintext_rows_of_an_older_barecloud_are_read_then_sealed(
    database: Database, settings: Settings,
) -> None:
    rt = Runtime(db=database, settings=settings)
    uuid = await enroll(rt)
    async with database.session() as s:  # as an older barecloud stored it
        await s.execute(update(Node).where(Node.uuid == uuid).values(driver_info={
            "ipmi_address": "127.0.0.1", "ipmi_password": IPMI_SECRET}))
    keys = sealed.keyring(settings.data_dir)
    async with database.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == uuid))
        assert node is not None
        view = node_view(node, keys, with_ports=False)
    assert view.driver_info["ipmi_password"] == IPMI_SECRET
    assert await sealed.seal_plaintext(database, keys) == 1
    stored = await raw_info(database, uuid)
    assert keys.open(stored["ipmi_password"]) == IPMI_SECRET
    assert await sealed.seal_plaintext(database, keys) == 0  # once


def test_rotate_reseals_every_row_and_retires_the_old_key(tmp_path: Path) -> None:
    """`barecloud secrets rotate`: after it, only the new key exists and it opens all."""
    data = tmp_path / "data"
    env = {**os.environ, "BARECLOUD_DATA_DIR": str(data)}
    settings = Settings(data_dir=data)

    async def setup() -> str:
        db = await prepare(settings)
        try:
            return await enroll(Runtime(db=db, settings=settings))
        finally:
            await db.dispose()

    with sqlite_lock.exclusive(settings.effective_database_url, "test"):
        uuid = asyncio.run(setup())
    old_key = (sealed.key_dir(data) / "0").read_bytes()
    out = subprocess.run([sys.executable, "-m", "barecloud", "secrets", "rotate"], env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert "key 1 seals now (1 row(s) resealed); retired key(s) 0" in out, out
    assert sorted(p.name for p in sealed.key_dir(data).iterdir()) == ["1"]

    async def check() -> None:
        db = Database(settings.effective_database_url)
        try:
            stored = await raw_info(db, uuid)
        finally:
            await db.dispose()
        keys = sealed.keyring(data)
        assert keys.numbers == (1,)
        assert keys.open(stored["ipmi_password"]) == IPMI_SECRET
        try:
            Fernet(old_key.strip()).decrypt(stored["ipmi_password"][len(sealed.PREFIX):])
        except InvalidToken:
            return
        raise AssertionError("the retired key still opens the row")

    asyncio.run(check())
