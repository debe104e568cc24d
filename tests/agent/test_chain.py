"""The image chain on real sockets: agents (threads) that write and serve, failover, drain.

Each "agent" is a thread calling image.write_image onto its own disk file
with its own chain server, as the agent process does for a chained
write_image; the image server is tests/agent/servers.py's FileServer.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from barecloud.agent import chain, image
from tests.agent.servers import FileServer, random_file, sparse_file

MiB = 2**20
STALL = 1.0


@dataclass
class Agent:
    """One machine of the chain: its chain server, disk, and write_image's outcome."""

    name: str
    server: chain.ChainServer
    disk: Path
    token: str
    result: dict[str, Any] | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def chain_url(self) -> str:
        return f"{self.url}/chain/{self.token}"

    def start(self, image_url: str, upstreams: list[Agent | str], **options: Any) -> Agent:
        urls = [u.chain_url if isinstance(u, Agent) else u for u in upstreams]

        def run() -> None:
            try:
                self.result = image.write_image(
                    image_url, str(self.disk), upstreams=urls,
                    serve=chain.Serving(self.server, self.token), **options)
            except BaseException as exc:
                self.error = exc
            finally:
                self.done.set()

        self.thread = threading.Thread(target=run, name=f"agent-{self.name}", daemon=True)
        self.thread.start()
        return self

    def wait(self, timeout: float = 30.0) -> Agent:
        assert self.done.wait(timeout), f"agent {self.name} did not finish"
        return self

    def source(self) -> chain.Source | None:
        return self.server.find(self.token)


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[[str], Agent]]:
    """Make agents with a 32 MiB disk file and a chain server each; closed afterwards."""
    made: list[Agent] = []

    def make(name: str) -> Agent:
        agent = Agent(name, chain.ChainServer(host="127.0.0.1"),
                      sparse_file(tmp_path / f"disk-{name}.img", 32 * MiB), f"token-{name}")
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.server.close()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def an_image(tmp_path: Path, size: int = 8 * MiB + 4321) -> tuple[bytes, str]:
    data = random_file(tmp_path / "image.raw", size).read_bytes()
    return data, sha512(data)


def assert_has_image(agent: Agent, data: bytes, digest: str) -> None:
    assert agent.error is None, f"agent {agent.name}: {agent.error!r}"
    assert agent.result is not None
    assert agent.result["bytes"] == len(data)
    assert agent.result["os_hash_value"] == digest
    with open(agent.disk, "rb") as f:
        assert f.read(len(data)) == data


def test_a_chain_of_four_gets_the_image_from_the_server_once(
        tmp_path: Path, serve: Callable[..., FileServer],
        agents: Callable[[str], Agent]) -> None:
    data, digest = an_image(tmp_path)
    server = serve(rate=8 * MiB)  # about 1 s
    url = server.url("image.raw")
    chain_ = [agents(str(i)) for i in range(1, 5)]
    for i, agent in enumerate(chain_):
        agent.start(url, list(reversed(chain_[:i])), os_hash_value=digest, size=len(data),
                    stall_timeout=STALL)
    for agent in chain_:
        assert_has_image(agent.wait(), data, digest)
    first, *others = chain_
    assert first.result is not None
    assert first.result["sources"] == [{"url": url, "from": 0, "to": len(data)}]
    for before, agent in zip(chain_, others, strict=False):
        assert agent.result is not None
        assert agent.result["sources"] == [{"url": before.url, "from": 0, "to": len(data)}]
        assert agent.result["failovers"] == []
    assert server.sent < 1.2 * len(data)
    assert len(server.requests) == 1


@pytest.mark.parametrize("death", ["its writer fails", "its chain server stops"])
def test_the_chain_heals_around_a_dead_agent(
        tmp_path: Path, serve: Callable[..., FileServer], agents: Callable[[str], Agent],
        death: str) -> None:
    data, digest = an_image(tmp_path)
    server = serve(rate=4 * MiB)  # about 2 s
    url = server.url("image.raw")
    one, two, three, four = (agents(str(i)) for i in range(1, 5))
    options: dict[str, Any] = {"os_hash_value": digest, "size": len(data),
                               "stall_timeout": STALL}

    def on_fire(done: int, total: int | None) -> None:
        raise OSError(5, "Input/output error")  # the first progress call: after ~1 s

    one.start(url, [], **options)
    two.start(url, [one], **options,
              **({"progress": on_fire} if death == "its writer fails" else {}))
    three.start(url, [two, one], **options)
    four.start(url, [three, two, one], **options)
    if death == "its chain server stops":
        deadline = time.monotonic() + 10
        while (source := two.source()) is None or source.written < 3 * MiB:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        two.server.close()
    for agent in (one, three, four):
        assert_has_image(agent.wait(), data, digest)
    two.wait()
    if death == "its writer fails":
        assert isinstance(two.error, OSError)
    else:
        assert_has_image(two, data, digest)
    assert three.result is not None and four.result is not None
    [(to_two, to_one)] = [three.result["sources"]]
    cut = to_two["to"]
    assert to_two == {"url": two.url, "from": 0, "to": cut} and 0 < cut < len(data)
    assert to_one == {"url": one.url, "from": cut, "to": len(data)}
    [failover] = three.result["failovers"]
    assert failover["url"] == two.url and failover["at"] == cut
    assert four.result["sources"] == [{"url": three.url, "from": 0, "to": len(data)}]
    assert four.result["failovers"] == []
    assert server.sent < 2 * len(data)


class Stalling:
    """An upstream that answers, sends the first ``count`` bytes, then nothing."""

    def __init__(self, data: bytes, count: int) -> None:
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(206)
                self.send_header("Content-Range", f"bytes 0-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:count])
                self.wfile.flush()
                outer.release.wait(30)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def test_a_stalled_upstream_is_left_but_one_that_is_failing_over_is_kept(
        tmp_path: Path, serve: Callable[..., FileServer],
        agents: Callable[[str], Agent]) -> None:
    data, digest = an_image(tmp_path)
    stalling = Stalling(data, 100 * 1024)
    try:
        server = serve(rate=16 * MiB)
        url = server.url("image.raw")
        options: dict[str, Any] = {"os_hash_value": digest, "size": len(data),
                                   "stall_timeout": STALL}
        started = time.monotonic()
        one = agents("1").start(url, [f"{stalling.url}/chain/t"], **options)
        # Two stalls as long as one (it waits on one, which waits on the stalled
        # upstream) but stays: one answers that it has been idle for only a second.
        two = agents("2").start(url, [one], **options)
        assert_has_image(one.wait(), data, digest)
        assert_has_image(two.wait(), data, digest)
    finally:
        stalling.close()
    assert time.monotonic() - started >= STALL
    assert one.result is not None and two.result is not None
    assert one.result["sources"] == [
        {"url": stalling.url, "from": 0, "to": 100 * 1024},
        {"url": url, "from": 100 * 1024, "to": len(data)}]
    [failover] = one.result["failovers"]
    assert failover["url"] == stalling.url and failover["at"] == 100 * 1024
    assert failover["error"].startswith("no byte for 1 s")
    assert two.result["sources"] == [{"url": one.url, "from": 0, "to": len(data)}]
    assert two.result["failovers"] == []
    assert server.requests[0]["range"] == f"bytes={100 * 1024}-"
    assert server.sent < 1.1 * len(data)


def test_an_upstream_whose_checksum_fails_is_left_before_its_last_byte(
        tmp_path: Path, serve: Callable[..., FileServer],
        agents: Callable[[str], Agent]) -> None:
    data, digest = an_image(tmp_path, 4 * MiB)
    url = serve(rate=8 * MiB).url("image.raw")
    one = agents("1").start(url, [], os_hash_value=sha512(b"another image"), size=len(data))
    two = agents("2").start(url, [one], os_hash_value=digest, size=len(data),
                            stall_timeout=STALL)
    assert isinstance(one.wait().error, image.ImageError)
    assert "checksum mismatch" in str(one.error)
    assert_has_image(two.wait(), data, digest)
    assert two.result is not None
    from_one, from_server = two.result["sources"]
    assert from_one["url"] == one.url and from_one["to"] <= len(data) - 1  # held back
    assert from_server == {"url": url, "from": from_one["to"], "to": len(data)}
    assert two.result["failovers"][0]["at"] == from_one["to"]
    assert one.server.find(one.token) is not None
    assert http_get(one.chain_url)[0] == 410  # a failed write serves nothing


def test_corrupt_bytes_from_an_upstream_fail_the_checksum(
        tmp_path: Path, serve: Callable[..., FileServer],
        agents: Callable[[str], Agent]) -> None:
    data, digest = an_image(tmp_path, 2 * MiB)
    url = serve().url("image.raw")
    liar = agents("liar")
    bad = bytearray(data)
    bad[MiB] ^= 1
    (tmp_path / "bad.raw").write_bytes(bytes(bad))
    source = liar.server.serve(liar.token, str(tmp_path / "bad.raw"), len(data))
    source.publish(len(data))
    source.finish()
    victim = agents("victim").start(url, [liar], os_hash_value=digest, size=len(data))
    assert isinstance(victim.wait().error, image.ImageError)
    assert "checksum mismatch" in str(victim.error)


def test_an_upstream_that_has_not_started_is_waited_for_and_a_gone_one_is_not(
        tmp_path: Path, serve: Callable[..., FileServer],
        agents: Callable[[str], Agent]) -> None:
    data, digest = an_image(tmp_path, 2 * MiB)
    server = serve()
    url = server.url("image.raw")
    one, two = agents("1"), agents("2")
    options: dict[str, Any] = {"os_hash_value": digest, "size": len(data), "stall_timeout": 3}
    two.start(url, [one], **options)
    time.sleep(0.5)  # two asks one, which has not started its write: 404
    one.start(url, [], **options)
    assert_has_image(two.wait(), data, digest)
    assert two.result is not None
    assert two.result["sources"] == [{"url": one.url, "from": 0, "to": len(data)}]
    one.server.seal()  # one's disk is about to change: 410 from now on
    three = agents("3")
    started = time.monotonic()
    three.start(url, [one], **options)
    assert_has_image(three.wait(), data, digest)
    assert time.monotonic() - started < 2  # not the 3 s a 404 is waited for
    assert three.result is not None
    assert three.result["failovers"] == [
        {"url": one.url, "at": 0, "error": "HTTP 410 Gone"}]
    assert three.result["sources"] == [{"url": url, "from": 0, "to": len(data)}]
    assert server.sent == 2 * len(data)


def http_get(url: str, headers: dict[str, str] | None = None,
             timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    host, port = url.split("/")[2].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/" + url.split("/", 3)[3], headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[chain.ChainServer, bytes, Path]]:
    """A chain server and a 1 MiB "disk" whose bytes it may serve."""
    server = chain.ChainServer(host="127.0.0.1")
    data = random_file(tmp_path / "written.img", MiB).read_bytes()
    yield server, data, tmp_path / "written.img"
    server.close()


def test_tokens_and_ranges(served: tuple[chain.ChainServer, bytes, Path]) -> None:
    server, data, disk = served
    base = f"http://127.0.0.1:{server.port}"
    assert http_get(f"{base}/chain/t1")[0] == 404  # nothing served yet
    source = server.serve("t1", str(disk), len(data))
    source.publish(len(data))
    source.finish()
    assert http_get(f"{base}/chain/t2")[0] == 404
    assert http_get(f"{base}/elsewhere")[0] == 404
    status, headers, body = http_get(f"{base}/chain/t1")
    assert (status, body) == (200, data)
    assert headers["Content-Length"] == str(len(data))
    assert headers["Accept-Ranges"] == "bytes" and "Content-Range" not in headers
    assert float(headers[chain.IDLE_HEADER]) >= 0
    status, headers, body = http_get(f"{base}/chain/t1", {"Range": "bytes=1000-"})
    assert (status, body) == (206, data[1000:])
    assert headers["Content-Range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
    assert headers["Content-Length"] == str(len(data) - 1000)
    for wrong in (f"bytes={len(data)}-", "bytes=0-9", "lines=1-"):
        status, headers, _ = http_get(f"{base}/chain/t1", {"Range": wrong})
        assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    assert served[0].find("t1") is source
    server.serve("t3", str(disk), len(data))  # a new write replaces the old one
    assert http_get(f"{base}/chain/t1")[0] == 410
    assert source.state == "failed"


def test_only_the_current_write_s_token_is_served(
        served: tuple[chain.ChainServer, bytes, Path]) -> None:
    """The token is the chain's credential: one per write, given only in the
    authenticated command; a guess, a near miss or an earlier write's gets nothing."""
    server, data, disk = served
    base = f"http://127.0.0.1:{server.port}"
    token = "Zm9vYmFyYmF6cXV4cXV1eHh5end2"
    source = server.serve(token, str(disk), len(data))
    source.publish(len(data))
    source.finish()
    for wrong in (token[:-1], token + "x", token.lower(), token[1:], "%2e%2e", "",
                  f"{token}/x", f"{token}?x=1"):
        status, _, body = http_get(f"{base}/chain/{wrong}")
        assert status == 404 and body == b"", wrong
    assert http_get(f"{base}/chain/{token}")[0] == 200
    # The next write (another batch, or a retry) serves under its own token only.
    server.serve("next-write-token", str(disk), len(data)).finish()
    status, _, body = http_get(f"{base}/chain/{token}")
    assert status == 410 and body == b""
    server.seal(limit=1)
    assert http_get(f"{base}/chain/next-write-token")[0] == 410


def test_bytes_flow_as_written_and_the_last_waits_for_the_hash(
        served: tuple[chain.ChainServer, bytes, Path]) -> None:
    server, data, disk = served
    url = f"http://127.0.0.1:{server.port}/chain/t"
    source = server.serve("t", str(disk), len(data))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.5)
    conn.request("GET", "/chain/t", headers={"Range": "bytes=0-"})
    response = conn.getresponse()
    source.publish(300_000)
    assert response.read(300_000) == data[:300_000]  # before the write ends
    source.publish(len(data))
    assert response.read(len(data) - 300_001) == data[300_000:-1]
    with pytest.raises(TimeoutError):
        response.read(1)  # the last byte: not before the hash is verified
    conn.close()
    threading.Timer(0.2, source.finish).start()
    status, _, body = http_get(url, {"Range": f"bytes={len(data) - 1}-"})
    assert (status, body) == (206, data[-1:])


def test_a_failed_write_cuts_its_streams_short(
        served: tuple[chain.ChainServer, bytes, Path]) -> None:
    server, data, disk = served
    source = server.serve("t", str(disk), len(data))
    source.publish(MiB // 2)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/chain/t")
    response = conn.getresponse()
    assert response.read(MiB // 2) == data[:MiB // 2]
    threading.Timer(0.2, source.fail, ["checksum mismatch"]).start()
    started = time.monotonic()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    assert time.monotonic() - started < 2
    conn.close()


def reader(url: str) -> threading.Thread:
    """A successor reading ``url`` to the end (or until it is cut) in a thread."""

    def read() -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            http_get(url, timeout=10)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def wait_for_streams(source: chain.Source, count: int) -> None:
    deadline = time.monotonic() + 5
    while source.streams != count:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_drain_waits_for_the_successor(
        served: tuple[chain.ChainServer, bytes, Path]) -> None:
    server, data, disk = served
    assert server.drain(grace=5, limit=5) == "nothing"  # nothing served: at once
    source = server.serve("t", str(disk), len(data))
    source.publish(MiB // 2)
    successor = reader(f"http://127.0.0.1:{server.port}/chain/t")
    wait_for_streams(source, 1)
    threading.Timer(0.5, lambda: (source.publish(len(data)), source.finish())).start()
    started = time.monotonic()
    assert server.drain(grace=0.1, limit=5) == "served"
    assert 0.4 < time.monotonic() - started < 2
    successor.join(5)
    assert source.served == 1 and source.streams == 0


def test_drain_gives_up_after_a_grace_when_nobody_comes(
        served: tuple[chain.ChainServer, bytes, Path]) -> None:
    server, data, disk = served
    source = server.serve("t", str(disk), len(data))
    source.publish(len(data))
    source.finish()
    started = time.monotonic()
    assert server.drain(grace=0.5, limit=5) == "unused"
    assert 0.4 < time.monotonic() - started < 1.5
    source.fail("the write failed")
    assert server.drain(grace=5, limit=5) == "nothing"


def test_drain_is_bounded_when_a_successor_hangs(
        served: tuple[chain.ChainServer, bytes, Path]) -> None:
    server, data, disk = served
    source = server.serve("t", str(disk), len(data))
    source.publish(MiB // 2)  # never finishes: the stream stays open
    reader(f"http://127.0.0.1:{server.port}/chain/t")
    wait_for_streams(source, 1)
    started = time.monotonic()
    assert server.drain(grace=0.1, limit=0.7) == "timeout"
    assert 0.6 < time.monotonic() - started < 2


def test_seal_lets_streams_end_then_serves_no_more(
        served: tuple[chain.ChainServer, bytes, Path]) -> None:
    server, data, disk = served
    source = server.serve("t", str(disk), len(data))
    source.publish(MiB // 2)
    successor = reader(f"http://127.0.0.1:{server.port}/chain/t")
    wait_for_streams(source, 1)
    threading.Timer(0.3, lambda: (source.publish(len(data)), source.finish())).start()
    server.seal(limit=5)
    assert source.served == 1
    successor.join(5)
    assert http_get(f"http://127.0.0.1:{server.port}/chain/t")[0] == 410
    assert server.drain(grace=5, limit=5) == "nothing"


CHILD = """
import json, sys
from barecloud.agent import chain, image
url, disk, upstream, digest, size = sys.argv[1:]
server = chain.ChainServer(host="127.0.0.1")
print(server.port, flush=True)
result = image.write_image(url, disk, os_hash_algo="sha256", os_hash_value=digest,
                           size=int(size), upstreams=[upstream],
                           serve=chain.Serving(server, "middle"))
drained = server.drain(grace=10, limit=30)
peak = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(json.dumps({"result": result, "drained": drained, "peak_kib": int(peak.split()[1])}))
"""


def test_memory_stays_small_in_a_chained_write(
        tmp_path: Path, serve: Callable[..., FileServer],
        agents: Callable[[str], Agent]) -> None:
    """A 256 MiB image through an agent process that pulls and serves: peak RSS < 64 MiB.

    The peak is the child's VmHWM: its ``ru_maxrss`` (and so the parent's
    RUSAGE_CHILDREN) also counts the parent's pages it shared until exec.
    """
    size = 256 * MiB
    sparse_file(tmp_path / "image.raw", size)
    digest = hashlib.sha256()
    block = bytes(16 * MiB)
    for _ in range(size // len(block)):
        digest.update(block)
    url = serve().url("image.raw")
    head = agents("head")
    tail = agents("tail")
    for agent in (head, tail):
        sparse_file(agent.disk, size)
    options: dict[str, Any] = {"os_hash_algo": "sha256", "os_hash_value": digest.hexdigest(),
                               "size": size}
    head.start(url, [], **options)
    middle_disk = sparse_file(tmp_path / "disk-middle.img", size)
    with subprocess.Popen([sys.executable, "-c", CHILD, url, str(middle_disk),
                           head.chain_url, digest.hexdigest(), str(size)],
                          stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        tail.start(url, [f"http://127.0.0.1:{port}/chain/middle", head], **options)
        out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    report = json.loads(out)
    for agent in (head, tail):
        agent.wait(60)
        assert agent.error is None, agent.error
    assert report["result"]["bytes"] == size
    assert report["drained"] == "served"
    assert report["peak_kib"] < 64 * 1024, report
    assert tail.result is not None
    assert tail.result["sources"] == [
        {"url": f"http://127.0.0.1:{port}", "from": 0, "to": size}]
