"""write_image against a real HTTP server on loopback, onto real (sparse) disk files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from barecloud.agent import image
from tests.agent.servers import FileServer, random_file, sparse_file

MiB = 2**20


def digest(path: Path, algo: str = "sha512") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(4 * MiB):
            h.update(chunk)
    return h.hexdigest()


def disk_with_tail(tmp_path: Path, size: int) -> Path:
    """A sparse disk whose last MiB holds a pattern nothing should touch."""
    disk = sparse_file(tmp_path / "disk.img", size)
    with open(disk, "r+b") as f:
        f.seek(size - MiB)
        f.write(b"\x5a" * MiB)
    return disk


@pytest.mark.parametrize("algo", ["sha512", "sha256", "md5"])
def test_writes_the_image_and_checks_its_hash(
        tmp_path: Path, serve: Callable[..., FileServer], algo: str) -> None:
    src = random_file(tmp_path / "image.raw", 13 * MiB + 12345)  # not a buffer multiple
    disk = disk_with_tail(tmp_path, 64 * MiB)
    server = serve()
    result = image.write_image(server.url("image.raw"), str(disk), os_hash_algo=algo,
                               os_hash_value=digest(src, algo).upper(),
                               size=src.stat().st_size)
    assert result["bytes"] == src.stat().st_size
    assert result["os_hash_value"] == digest(src, algo)
    assert result["seconds"] >= 0
    data = disk.read_bytes()
    assert data[:src.stat().st_size] == src.read_bytes()
    assert data[-MiB:] == b"\x5a" * MiB  # beyond the image: untouched, not truncated
    assert disk.stat().st_size == 64 * MiB


def test_a_corrupted_image_fails_the_checksum(
        tmp_path: Path, serve: Callable[..., FileServer]) -> None:
    src = random_file(tmp_path / "image.raw", 5 * MiB)
    good = digest(src)
    with open(src, "r+b") as f:
        f.seek(3 * MiB)
        f.write(b"\x00\x01\x02")
    disk = sparse_file(tmp_path / "disk.img", 16 * MiB)
    with pytest.raises(image.ImageError) as failure:
        image.write_image(serve().url("image.raw"), str(disk), os_hash_value=good)
    assert str(failure.value) == (
        f"image checksum mismatch: expected sha512 {good}, got {digest(src)}")


def test_a_broken_download_resumes_with_a_range_request(
        tmp_path: Path, serve: Callable[..., FileServer]) -> None:
    src = random_file(tmp_path / "image.raw", 10 * MiB)
    disk = sparse_file(tmp_path / "disk.img", 16 * MiB)
    server = serve(break_after=3 * MiB + 7)
    result = image.write_image(server.url("image.raw"), str(disk), os_hash_value=digest(src))
    assert result["bytes"] == 10 * MiB
    assert disk.read_bytes()[:10 * MiB] == src.read_bytes()
    assert len(server.requests) == 2
    assert server.requests[1]["range"] == f"bytes={3 * MiB + 7}-"


def test_a_signed_url_keeps_its_query_on_resumes_and_never_shows_it(
        tmp_path: Path, serve: Callable[..., FileServer],
        caplog: pytest.LogCaptureFixture) -> None:
    src = random_file(tmp_path / "image.raw", 10 * MiB)
    disk = sparse_file(tmp_path / "disk.img", 16 * MiB)
    server = serve(break_after=3 * MiB + 7)
    query = "?node=n1&expires=99&signature=s3cret"
    result = image.write_image(server.url("image.raw") + query, str(disk),
                               os_hash_value=digest(src))
    assert disk.read_bytes()[:10 * MiB] == src.read_bytes()
    assert [r["path"] for r in server.requests] == [f"/image.raw{query}"] * 2
    assert server.requests[1]["range"] == f"bytes={3 * MiB + 7}-"
    with pytest.raises(image.ImageError, match="HTTP 404") as failure:
        image.write_image(server.url("nope.raw") + query, str(disk))
    assert "s3cret" not in str(failure.value) and "s3cret" not in json.dumps(result)
    assert "s3cret" not in caplog.text and "broke off" in caplog.text


def test_a_broken_download_without_ranges_fails(
        tmp_path: Path, serve: Callable[..., FileServer]) -> None:
    random_file(tmp_path / "image.raw", 10 * MiB)
    disk = sparse_file(tmp_path / "disk.img", 16 * MiB)
    server = serve(break_after=MiB, ranges=False)
    with pytest.raises(image.ImageError, match=f"broke off at byte {MiB} of {10 * MiB}"):
        image.write_image(server.url("image.raw"), str(disk))


def test_no_content_length_ends_at_the_close(
        tmp_path: Path, serve: Callable[..., FileServer]) -> None:
    src = random_file(tmp_path / "image.raw", 6 * MiB + 1)
    disk = sparse_file(tmp_path / "disk.img", 16 * MiB)
    server = serve(length=False)
    result = image.write_image(server.url("image.raw"), str(disk), os_hash_algo="sha256",
                               os_hash_value=digest(src, "sha256"))
    assert result["bytes"] == 6 * MiB + 1
    with pytest.raises(image.ImageError, match="image size mismatch: expected 5 bytes"):
        image.write_image(server.url("image.raw"), str(disk), size=5)


def test_missing_image_too_big_and_bad_algorithm(
        tmp_path: Path, serve: Callable[..., FileServer]) -> None:
    random_file(tmp_path / "image.raw", 3 * MiB)
    disk = sparse_file(tmp_path / "disk.img", 2 * MiB)
    server = serve()
    with pytest.raises(image.ImageError, match="HTTP 404"):
        image.write_image(server.url("nope.raw"), str(disk))
    with pytest.raises(image.ImageError, match="bigger than disk"):
        image.write_image(server.url("image.raw"), str(disk))
    assert disk.read_bytes() == bytes(2 * MiB)  # nothing was written
    with pytest.raises(image.ImageError, match="image size mismatch"):
        image.write_image(server.url("image.raw"), str(disk), size=3 * MiB - 1)
    with pytest.raises(image.ImageError, match="os_hash_algo must be one of"):
        image.write_image(server.url("image.raw"), str(disk), os_hash_algo="crc32")
    server_without_length = serve(length=False)
    with pytest.raises(image.ImageError, match="bigger than the disk"):
        image.write_image(server_without_length.url("image.raw"), str(disk),
                          buffer_size=MiB, buffers=2)


def test_progress_is_reported_about_every_second(
        tmp_path: Path, serve: Callable[..., FileServer]) -> None:
    random_file(tmp_path / "image.raw", 6 * MiB)
    disk = sparse_file(tmp_path / "disk.img", 8 * MiB)
    server = serve(rate=3 * MiB)  # about 2 s
    calls: list[tuple[int, int | None]] = []
    image.write_image(server.url("image.raw"), str(disk), progress=lambda d, t: calls.append(
        (d, t)), buffer_size=MiB, buffers=4)
    assert calls[-1] == (6 * MiB, 6 * MiB)
    assert len(calls) >= 2
    assert all(t == 6 * MiB for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[0][0] < 6 * MiB


def test_memory_stays_small_whatever_the_image_size(
        tmp_path: Path, serve: Callable[..., FileServer]) -> None:
    """A 512 MiB image through the writer in its own process: peak RSS under 64 MiB."""
    size = 512 * MiB
    sparse_file(tmp_path / "image.raw", size)
    disk = sparse_file(tmp_path / "disk.img", size + MiB)
    zeros = hashlib.sha256()
    block = bytes(16 * MiB)
    for _ in range(size // len(block)):
        zeros.update(block)
    script = (
        "import json, sys\n"
        "from barecloud.agent.image import write_image\n"
        "r = write_image(sys.argv[1], sys.argv[2], os_hash_algo='sha256',"
        " os_hash_value=sys.argv[3])\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(json.dumps({'result': r, 'peak_kib': int(hwm.split()[1])}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, serve().url("image.raw"), str(disk),
                          zeros.hexdigest()], capture_output=True, text=True, check=True,
                         timeout=120).stdout
    report = json.loads(out)
    assert report["result"]["bytes"] == size
    assert report["peak_kib"] < 64 * 1024, report
