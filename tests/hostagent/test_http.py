"""The asyncio HTTP client and the image cache, against the in-test service."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest

from barecloud.hostagent.http import ApiError, HttpClient, TransportError, Unauthorized, retryable
from barecloud.hostagent.images import ImageCache, ImageError
from tests.hostagent.conftest import credential, image
from tests.hostagent.server import PREFIX, ApiServer


async def test_calls_share_one_kept_alive_connection(api: ApiServer) -> None:
    api.add_host(credential())
    client = HttpClient(api.url + PREFIX, credential())
    for _ in range(3):
        answer = await client.call("POST", "/report", {"vms": []})
        assert answer["report_interval"] == api.report_interval
    assert api.connections == 1
    assert client.local_ip == "127.0.0.1"
    await client.close()


async def test_chunked_answers_are_read(api: ApiServer) -> None:
    api.chunked = True
    api.add_host(credential())
    client = HttpClient(api.url + PREFIX, credential())
    assert (await client.call("POST", "/report", {}))["hypervisor"]["hostname"] == "hv1"
    assert (await client.call("GET", "/desired?since=-1&wait=0"))["vms"] == []
    assert api.connections == 1
    await client.close()


async def test_a_connection_the_server_closed_is_opened_again(api: ApiServer) -> None:
    api.add_host(credential())
    client = HttpClient(api.url + PREFIX, credential())
    await client.call("POST", "/report", {})
    for task in list(api._handlers):  # the service drops its idle connections
        task.cancel()
    await asyncio.sleep(0.05)
    await client.call("POST", "/report", {})
    assert api.connections == 2
    await client.close()


async def test_errors(api: ApiServer, tmp_path: Path) -> None:
    api.add_host(credential())
    client = HttpClient(api.url + PREFIX, credential())
    with pytest.raises(ApiError) as missing:
        await client.call("GET", "/nothing")
    assert missing.value.status == 404 and "no such call" in str(missing.value)
    assert not retryable(missing.value)
    api.fail_next(PREFIX + "/report", 503)
    with pytest.raises(ApiError) as unavailable:
        await client.call("POST", "/report", {})
    assert unavailable.value.status == 503 and retryable(unavailable.value)
    client.credential = "hv.wrong.secret"
    with pytest.raises(Unauthorized) as refused:
        await client.call("POST", "/report", {})
    assert "bad credential" in str(refused.value) and not retryable(refused.value)
    # A long poll longer than the timeout: a TransportError, and the next call works.
    client.credential = credential()
    with pytest.raises(TransportError) as slow:
        await client.call("GET", "/desired?since=0&wait=5", timeout=0.2)
    assert retryable(slow.value)
    assert (await client.call("GET", "/desired?since=-1&wait=0"))["generation"] == 0
    await client.close()
    closed = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    with pytest.raises(TransportError):
        await HttpClient(f"http://127.0.0.1:{port}").call("GET", "/")


async def test_image_download_is_retried_then_kept(api: ApiServer, tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "images", retry_delay=0.01)
    api.fail_next("/images/img-1", 503)
    path = await cache.get(image(api))
    assert path.read_bytes() == api.files["img-1"]
    assert path.stat().st_mode & 0o222 == 0  # read-only: the base of overlays
    assert api.served_faults == [("/images/img-1", 503)] and api.downloads["img-1"] == 1
    # A cached image is not fetched again, even by a new cache (a restarted agent) ...
    assert await ImageCache(tmp_path / "images").get(image(api)) == path
    assert api.downloads["img-1"] == 1
    # ... but one the desired list gives another digest for is refused.
    with pytest.raises(ImageError, match="cached copy"):
        await cache.get(image(api, sha512="ab" * 64))


async def test_image_errors_leave_nothing_behind(api: ApiServer, tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "images", retry_delay=0.01)
    wrong_size = {**image(api), "size": 3}
    with pytest.raises(ImageError, match="3"):
        await cache.get(wrong_size)
    missing = {**image(api), "id": "img-9", "url": f"{api.url}/images/img-9?sig=x"}
    with pytest.raises(ImageError, match="404"):
        await cache.get(missing)
    with pytest.raises(ImageError, match="bad image id"):
        await cache.get({**image(api), "id": "../etc"})
    assert list((tmp_path / "images").iterdir()) == []
    assert hashlib.sha512(api.files["img-1"]).hexdigest() == image(api)["sha512"]


async def test_concurrent_requests_for_an_image_share_one_download(
        api: ApiServer, tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "images")
    paths = await asyncio.gather(*(cache.get(image(api)) for _ in range(5)))
    assert len(set(paths)) == 1 and api.downloads["img-1"] == 1
    bad = image(api, "img-2", sha512="0" * 128)
    results = await asyncio.gather(*(cache.get(bad) for _ in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, ImageError) for r in results) and api.downloads["img-2"] == 1
