"""Command dispatch: results as in the design's table, failures as clear messages."""

from __future__ import annotations

import hashlib
import http.client
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from barecloud.agent import chain, commands, hardware
from tests.agent.servers import FileServer, random_file, sparse_file

MiB = 2**20


def context(tmp_path: Path, disk_path: str | None = None,
            chain_server: chain.ChainServer | None = None) -> commands.Context:
    path = disk_path or str(sparse_file(tmp_path / "disk.img", 8 * MiB))
    hw = hardware.Hardware(
        interfaces=(hardware.Interface("eth0", "52:54:00:00:00:01"),),
        disks=(hardware.Disk("vda", path, 8 * MiB),), cpus=1, memory_mb=512,
        cpu_arch="x86_64", platform="lab")
    return commands.Context(hw, "52:54:00:00:00:01", lambda done, total: None, chain_server)


def test_unknown_command_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(commands.CommandError,
                       match=r"unknown command 'flash_bios'.*erase, get_inventory"):
        commands.run("flash_bios", {}, context(tmp_path))


def test_get_inventory(tmp_path: Path) -> None:
    outcome = commands.run("get_inventory", {}, context(tmp_path))
    assert outcome.then is None
    assert outcome.result["inventory"]["memory"]["physical_mb"] == 512
    assert outcome.result["inventory"]["interfaces"][0]["mac_address"] == "52:54:00:00:00:01"


def test_erase_every_disk(tmp_path: Path) -> None:
    outcome = commands.run("erase", {"mode": "full"}, context(tmp_path))
    assert outcome.result == {"mode": "full", "bytes": 8 * MiB}
    with pytest.raises(commands.CommandError, match="'quick' or 'full'"):
        commands.run("erase", {"mode": "gutmann"}, context(tmp_path))


def test_power_commands_act_only_after_reporting(tmp_path: Path) -> None:
    for name in ("power_off", "reboot"):
        outcome = commands.run(name, {}, context(tmp_path))
        assert outcome.result == {}
        assert callable(outcome.then)


def test_failures_become_command_errors(tmp_path: Path) -> None:
    with pytest.raises(commands.CommandError, match="write_image needs 'url'"):
        commands.run("write_image", {}, context(tmp_path))
    with pytest.raises(commands.CommandError, match="no disk named 'sdb'"):
        commands.run("write_image", {"url": "http://127.0.0.1:9/x", "disk": "sdb"},
                     context(tmp_path))
    with pytest.raises(commands.CommandError, match=r"write_image: .*No such file"):
        commands.run("write_image", {"url": "http://127.0.0.1:9/x"},
                     context(tmp_path, str(tmp_path / "missing.img")))
    with pytest.raises(commands.CommandError, match="needs 'files'"):
        commands.run("write_configdrive", {}, context(tmp_path))


@pytest.fixture
def chain_server() -> Iterator[chain.ChainServer]:
    server = chain.ChainServer(host="127.0.0.1")
    yield server
    server.close()


def status_of(server: chain.ChainServer, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", f"/chain/{token}")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_write_image_serves_the_chain_until_the_disk_changes(
        tmp_path: Path, serve: Callable[..., FileServer],
        chain_server: chain.ChainServer) -> None:
    data = random_file(tmp_path / "image.raw", 3 * MiB + 5).read_bytes()
    url = serve().url("image.raw")
    ctx = context(tmp_path, chain_server=chain_server)
    outcome = commands.run("write_image", {
        "url": url, "os_hash_value": hashlib.sha512(data).hexdigest(), "size": len(data),
        "upstreams": [], "serve": {"token": "tok-1"}, "stall_timeout": 2}, ctx)
    assert outcome.result["sources"] == [{"url": url, "from": 0, "to": len(data)}]
    assert outcome.result["failovers"] == []
    assert status_of(chain_server, "tok-1") == (200, data)
    commands.run("erase", {"mode": "quick"}, ctx)  # the disk changes: no more serving
    assert status_of(chain_server, "tok-1")[0] == 410
    assert chain_server.drain() == "nothing"
    assert callable(commands.run("power_off", {}, ctx).then)


def test_write_image_without_a_chain_server_just_writes(
        tmp_path: Path, serve: Callable[..., FileServer]) -> None:
    data = random_file(tmp_path / "image.raw", MiB).read_bytes()
    outcome = commands.run("write_image", {
        "url": serve().url("image.raw"), "size": len(data), "serve": {"token": "t"}},
        context(tmp_path))
    assert outcome.result["bytes"] == len(data)
    [source] = outcome.result["sources"]  # all from the image server
    assert source["url"].endswith("/image.raw") and (source["from"], source["to"]) == (
        0, len(data))


def test_chain_parameters_are_checked(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/x"
    for params, message in [
            ({"upstreams": "http://a/chain/t"}, "'upstreams' must be a list of http:// URLs"),
            ({"upstreams": ["ftp://a/chain/t"]}, "'upstreams' must be a list"),
            ({"serve": {}}, "'serve' needs a 'token'"),
            ({"serve": {"token": "a/b"}}, "'serve' needs a 'token'"),
            ({"stall_timeout": 0}, "'stall_timeout' must be positive")]:
        with pytest.raises(commands.CommandError, match=message):
            commands.run("write_image", {"url": url, **params}, context(tmp_path))
