"""The image store and the deploy contract: uploads, hashes, qcow2 conversion, failures.

Service functions are called directly (on SQLite and PostgreSQL), with real
files and a real ``qemu-img``; qcow2 images are made from raw files of known
bytes, so the raw bytes a deploy gets can be compared with their source.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images, members, queries
from barecloud.services.image import store as image_store

MiB = 1 << 20
CTX = RequestContext(request_id="req-test")


@pytest.fixture
def rt(database: Database, settings: Settings) -> Runtime:
    return Runtime(database, settings)


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def new_image(rt: Runtime, disk_format: str = "raw", **extra: Any) -> str:
    image = await images.create(rt, CTX, {"name": f"img-{disk_format}", "disk_format": disk_format,
                                          "container_format": "bare", **extra})
    return image.uuid


def known_raw(path: Path) -> bytes:
    """5 MiB with data, a hole of zeros and data again (qcow2 stores no zero clusters)."""
    data = os.urandom(MiB) + bytes(3 * MiB) + os.urandom(MiB)
    path.write_bytes(data)
    return data


def qemu_img(*args: str | Path) -> None:
    subprocess.run(["qemu-img", *map(str, args)], check=True, capture_output=True)


def store_files(settings: Settings) -> list[str]:
    folder = image_store.directory(settings)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_raw_upload_hashes_and_deploy_source(rt: Runtime) -> None:
    data = os.urandom(3 * MiB + 123)
    image_id = await new_image(rt, "raw")
    await images.upload(rt, CTX, image_id, chunks(data))

    image = await images.get(rt, CTX, image_id)
    assert image.status == "active" and image.size == image.virtual_size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.os_hash_algo == "sha512"
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()

    raw = await images.raw_image(rt, image_id)
    assert raw == images.RawImage(image_store.data_path(rt.settings, image_id), len(data),
                                  hashlib.sha512(data).hexdigest(), "raw")
    assert raw.path.read_bytes() == data
    assert await images.deploy_source(rt, image_id) == {
        "image_url": f"{rt.settings.base_url}/boot/images/{image_id}",
        "image_os_hash_algo": "sha512",
        "image_os_hash_value": hashlib.sha512(data).hexdigest(),
        "image_size": len(data),
        "image_disk_format": "raw",
        "image_name": "img-raw",
        "image_checksum": hashlib.md5(data).hexdigest(),
    }
    assert store_files(rt.settings) == [image_id]


async def test_qcow2_is_converted_to_the_raw_source(rt: Runtime, tmp_path: Path) -> None:
    source = known_raw(tmp_path / "source.raw")
    qemu_img("convert", "-f", "raw", "-O", "qcow2", tmp_path / "source.raw",
             tmp_path / "disk.qcow2")
    qcow2 = (tmp_path / "disk.qcow2").read_bytes()
    assert len(qcow2) < len(source)  # the zeros are not stored: it really is qcow2

    image_id = await new_image(rt, "qcow2")
    await images.upload(rt, CTX, image_id, chunks(qcow2))

    image = await images.get(rt, CTX, image_id)
    assert image.status == "active"
    assert image.size == len(qcow2) and image.virtual_size == len(source)
    assert image.checksum == hashlib.md5(qcow2).hexdigest()
    assert image.os_hash_value == hashlib.sha512(qcow2).hexdigest()
    raw = await images.raw_image(rt, image_id)
    assert raw.path == image_store.directory(rt.settings) / f"{image_id}.raw"
    assert raw.path.read_bytes() == source
    assert (raw.size, raw.sha512, raw.disk_format) == (
        len(source), hashlib.sha512(source).hexdigest(), "qcow2")
    assert image_store.data_path(rt.settings, image_id).read_bytes() == qcow2
    source_info = await images.deploy_source(rt, image_id)
    assert source_info["image_os_hash_value"] == hashlib.sha512(source).hexdigest()
    assert source_info["image_size"] == len(source)
    assert source_info["image_disk_format"] == "qcow2"
    assert source_info["image_checksum"] == hashlib.md5(qcow2).hexdigest()
    assert store_files(rt.settings) == sorted([image_id, f"{image_id}.raw"])


async def _killed(rt: Runtime, image_id: str, body: AsyncIterator[bytes],
                  error: type[BaseException], reason: str) -> None:
    with pytest.raises(error):
        await images.upload(rt, CTX, image_id, body)
    image = await images.get(rt, CTX, image_id)
    assert image.status == "killed", image.status
    assert reason in (image.status_reason or ""), image.status_reason
    assert image.size is None and image.checksum is None
    assert store_files(rt.settings) == []
    with pytest.raises(images.ImageNotActive, match="killed"):
        await images.raw_image(rt, image_id)


async def test_interrupted_upload_is_killed_and_leaves_no_file(rt: Runtime) -> None:
    async def cut_off() -> AsyncIterator[bytes]:
        for _ in range(40):  # 2.5 MiB: some of it reached the disk
            yield b"x" * 64 * 1024
        raise image_store.UploadInterrupted("The upload was interrupted: gone")

    await _killed(rt, await new_image(rt), cut_off(), image_store.UploadInterrupted,
                  "interrupted")


async def test_failing_stream_is_killed(rt: Runtime) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"abc"
        raise RuntimeError("the network card caught fire")

    await _killed(rt, await new_image(rt), broken(), RuntimeError, "caught fire")


async def test_cancelled_upload_is_killed(rt: Runtime) -> None:
    image_id = await new_image(rt)
    started = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            started.set()
            yield b"z" * 64 * 1024
            await asyncio.sleep(0.001)

    task = asyncio.create_task(images.upload(rt, CTX, image_id, endless()))
    await started.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    image = await images.get(rt, CTX, image_id)
    assert image.status == "killed" and image.status_reason == "The upload was interrupted."
    assert store_files(rt.settings) == []


async def test_data_that_is_not_qcow2_is_refused(rt: Runtime) -> None:
    await _killed(rt, await new_image(rt, "qcow2"), chunks(os.urandom(MiB)),
                  image_store.InvalidImageData, "qemu-img reads it as raw")


async def test_qcow2_with_a_backing_file_is_refused(rt: Runtime, tmp_path: Path) -> None:
    known_raw(tmp_path / "secret.raw")
    qemu_img("create", "-f", "qcow2", "-b", tmp_path / "secret.raw", "-F", "raw",
             tmp_path / "overlay.qcow2")
    await _killed(rt, await new_image(rt, "qcow2"),
                  chunks((tmp_path / "overlay.qcow2").read_bytes()),
                  image_store.InvalidImageData, "backing file")


async def test_corrupt_qcow2_is_refused(rt: Runtime, tmp_path: Path) -> None:
    known_raw(tmp_path / "source.raw")
    qemu_img("convert", "-f", "raw", "-O", "qcow2", tmp_path / "source.raw",
             tmp_path / "disk.qcow2")
    truncated = (tmp_path / "disk.qcow2").read_bytes()[:4096]  # header, no tables
    await _killed(rt, await new_image(rt, "qcow2"), chunks(truncated),
                  image_store.InvalidImageData, "qemu-img")


async def test_second_upload_conflicts_and_keeps_the_first(rt: Runtime) -> None:
    image_id = await new_image(rt)
    await images.upload(rt, CTX, image_id, chunks(b"first"))
    with pytest.raises(Conflict, match="from active to saving"):
        await images.upload(rt, CTX, image_id, chunks(b"second"))
    assert image_store.data_path(rt.settings, image_id).read_bytes() == b"first"
    assert (await images.get(rt, CTX, image_id)).status == "active"


async def test_upload_needs_formats_and_changes_nothing(rt: Runtime) -> None:
    image = await images.create(rt, CTX, {"name": "bare"})
    with pytest.raises(InvalidParameter, match="disk_format, container_format"):
        await images.upload(rt, CTX, image.uuid, chunks(b"data"))
    assert (await images.get(rt, CTX, image.uuid)).status == "queued"
    assert store_files(rt.settings) == []


async def test_delete_during_upload_answers_gone_and_cleans_up(rt: Runtime) -> None:
    image_id = await new_image(rt)
    halfway = asyncio.Event()
    resume = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a" * MiB
        halfway.set()
        await resume.wait()
        yield b"b" * MiB

    task = asyncio.create_task(images.upload(rt, CTX, image_id, slow()))
    await halfway.wait()
    await images.remove(rt, CTX, image_id)
    resume.set()
    with pytest.raises(images.ImageGone):
        await task
    assert store_files(rt.settings) == []
    with pytest.raises(NotFound):
        await images.get(rt, CTX, image_id)


async def test_delete_removes_both_files(rt: Runtime, tmp_path: Path) -> None:
    known_raw(tmp_path / "source.raw")
    qemu_img("convert", "-f", "raw", "-O", "qcow2", tmp_path / "source.raw",
             tmp_path / "disk.qcow2")
    image_id = await new_image(rt, "qcow2")
    await images.upload(rt, CTX, image_id, chunks((tmp_path / "disk.qcow2").read_bytes()))
    assert len(store_files(rt.settings)) == 2
    await images.remove(rt, CTX, image_id)
    assert store_files(rt.settings) == []


@pytest.mark.parametrize("ref", ["0e6a4f0c-8b5c-4d0e-9c2a-1b2c3d4e5f60", "not-a-uuid", ""])
async def test_unknown_images(rt: Runtime, ref: str) -> None:
    with pytest.raises(NotFound):
        await images.raw_image(rt, ref)
    with pytest.raises(NotFound):
        await images.deploy_source(rt, ref)


async def test_queued_image_cannot_be_deployed(rt: Runtime) -> None:
    image_id = await new_image(rt)
    for call in (images.raw_image, images.deploy_source):
        with pytest.raises(images.ImageNotActive, match="queued, not active"):
            await call(rt, image_id)


async def test_image_at_external_locations_only_is_not_deployed(rt: Runtime) -> None:
    """An image made active by an http location (services/image/locations.py) has no
    bytes in the store: a deploy is refused, saying so."""
    image_id = await new_image(rt)
    async with rt.db.session() as s:
        image = await images.find(s, CTX, image_id)
        image.status, image.size = "active", 10
        image.locations = [{"url": "http://images.example/x.raw", "metadata": {}}]
    for call in (images.raw_image, images.deploy_source):
        with pytest.raises(images.ImageNotActive, match="external locations only"):
            await call(rt, image_id)


def test_raw_image_contract_is_frozen(tmp_path: Path) -> None:
    raw = images.RawImage(tmp_path, 1, "ab", "raw")
    with pytest.raises(AttributeError):
        raw.size = 2  # type: ignore[misc]


async def test_large_blocks_are_hashed_in_order(rt: Runtime) -> None:
    """Chunks of odd sizes around the write block still hash to the whole."""
    pieces: Iterable[bytes] = [os.urandom(n) for n in (1, MiB - 1, MiB + 7, 3, 2 * MiB)]
    data = b"".join(pieces)

    async def odd() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    image_id = await new_image(rt)
    await images.upload(rt, CTX, image_id, odd())
    image = await images.get(rt, CTX, image_id)
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert image.checksum == hashlib.md5(data).hexdigest() and image.size == len(data)


async def test_projects_see_and_change_only_what_they_may(rt: Runtime) -> None:
    """The rules Identity will rely on: owner, visibility and membership decide."""
    alice = RequestContext(request_id="req-a", project="alice", roles=("member", "reader"))
    bob = RequestContext(request_id="req-b", project="bob", roles=("member", "reader"))
    ids = {}
    for visibility in ("private", "shared", "community"):
        image = await images.create(rt, alice, {"name": f"a-{visibility}",
                                                "visibility": visibility})
        assert image.owner == "alice"
        ids[visibility] = image.uuid
    with pytest.raises(Forbidden, match="publicize_image"):
        await images.create(rt, alice, {"name": "a-public", "visibility": "public"})
    public = await images.create(rt, CTX, {"name": "admin-public", "visibility": "public"})

    async def listed(ctx: RequestContext, **params: str) -> list[str]:
        page = await queries.list_images(rt, ctx, dict(params))
        return sorted(i.name or "" for i in page.images)

    assert await listed(alice) == ["a-community", "a-private", "a-shared", "admin-public"]
    assert await listed(bob) == ["admin-public"]
    assert await listed(bob, visibility="community") == ["a-community"]
    with pytest.raises(NotFound):
        await images.get(rt, bob, ids["private"])
    with pytest.raises(NotFound):
        await images.get(rt, bob, ids["shared"])
    await images.get(rt, bob, ids["community"])
    await images.get(rt, bob, public.uuid)

    await members.add(rt, alice, ids["shared"], {"member": "bob"})
    assert (await images.get(rt, bob, ids["shared"])).name == "a-shared"
    assert await listed(bob) == ["admin-public"]  # pending offers are not listed
    assert await listed(bob, member_status="pending") == ["a-shared", "admin-public"]
    with pytest.raises(Forbidden, match="'status'"):
        await members.set_status(rt, alice, ids["shared"], "bob", {"status": "accepted"})
    await members.set_status(rt, bob, ids["shared"], "bob", {"status": "accepted"})
    assert await listed(bob) == ["a-shared", "admin-public"]

    theirs = ids["community"]
    with pytest.raises(Forbidden, match="delete_image"):
        await images.remove(rt, bob, theirs)
    with pytest.raises(Forbidden, match="modify_image"):
        await images.update(rt, bob, theirs, [{"op": "replace", "path": "/name", "value": "x"}],
                            10)
    with pytest.raises(Forbidden, match="modify_image"):
        await images.set_tag(rt, bob, theirs, "x", present=True)
    with pytest.raises(Forbidden, match="upload_image"):
        await images.upload(rt, bob, theirs, chunks(b"x"))
    with pytest.raises(Forbidden, match="Owner can't be updated"):
        await images.update(rt, alice, ids["community"],
                            [{"op": "replace", "path": "/owner", "value": "bob"}], 10)
    assert (await images.get(rt, CTX, ids["community"])).name == "a-community"
