"""Benchmark: the agent's image writer against ``curl URL | dd of=F bs=4M conv=fsync``.

Writes a real 1 GiB file of random bytes to /tmp and serves it over HTTP on
loopback from a separate process (a sendfile handler: the server costs both
sides the same), then writes it to a fresh file RUNS times each way,
alternating: the agent's ``write_image`` in its own process (streaming,
sha512 verified, fsynced) and curl | dd.  Prints MiB/s per run, the medians,
and the ratio agent / curl | dd (the goal is >= 0.8).  Everything it made is
removed at the end.  A benchmark, not a test: it prints.

    .venv/bin/python bench/agent_write.py                    # 1 GiB, 3 runs each
    .venv/bin/python bench/agent_write.py --size-mib 256 --runs 5
    .venv/bin/python bench/agent_write.py --url 'http://HOST/boot/images/ID?node=…' --sha512 HEX

With ``--url`` nothing is served here: both sides download that URL (an
image served by the real service: a deploying node's signed URL, from its
write_image command, or Glance's ``/image/v2/images/ID/file``).
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MiB = 2**20
AGENT = (
    "import sys\n"
    "from barecloud.agent.image import write_image\n"
    "write_image(sys.argv[1], sys.argv[2], os_hash_algo='sha512',"
    " os_hash_value=sys.argv[3] or None)\n"
)


class _SendfileHandler(http.server.BaseHTTPRequestHandler):
    root = Path(".")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with open(path, "rb") as f:
            self.connection.sendfile(f)


def serve(directory: str) -> None:
    """Serve ``directory`` until killed; print the port on stdout."""
    _SendfileHandler.root = Path(directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SendfileHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def make_source(path: Path, size: int) -> str:
    """A file of random bytes; its sha512."""
    h = hashlib.sha512()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 16 * MiB))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def run_agent(url: str, target: Path, size: int, sha512: str) -> float:
    with open(target, "wb") as f:
        f.truncate(size)  # the "disk": the agent writes into it, never truncates it
    os.sync()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", AGENT, url, str(target), sha512], check=True)
    return time.perf_counter() - started


def run_curl_dd(url: str, target: Path) -> float:
    os.sync()
    started = time.perf_counter()
    subprocess.run(["bash", "-c", 'set -o pipefail; curl -sf "$1" | dd of="$2" bs=4M '
                    "conv=fsync status=none", "bench", url, str(target)], check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--url", help="download this instead of serving a random file")
    parser.add_argument("--sha512", default="", help="the --url image's sha512 (checked)")
    parser.add_argument("--size", type=int, help="the --url image's size in bytes")
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    for tool in ("curl", "dd"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed", file=sys.stderr)
            return 1

    work = Path(tempfile.mkdtemp(prefix="agent-write-bench-", dir="/tmp"))
    server: subprocess.Popen[str] | None = None
    try:
        if args.url:
            url, sha512 = args.url, args.sha512
            size = args.size or int(subprocess.run(
                ["curl", "-sfI", url], capture_output=True, text=True, check=True
            ).stdout.lower().split("content-length:")[1].split()[0])
        else:
            size = args.size_mib * MiB
            print(f"making {args.size_mib} MiB of random bytes in {work}")
            sha512 = make_source(work / "image.raw", size)
            server = subprocess.Popen([sys.executable, __file__, "--serve", str(work)],
                                      stdout=subprocess.PIPE, text=True)
            assert server.stdout is not None
            url = f"http://127.0.0.1:{server.stdout.readline().strip()}/image.raw"
        target = work / "disk.img"
        results: dict[str, list[float]] = {"agent": [], "curl | dd": []}
        for run in range(1, args.runs + 1):
            for name in (["agent", "curl | dd"] if run % 2 else ["curl | dd", "agent"]):
                seconds = (run_agent(url, target, size, sha512) if name == "agent"
                           else run_curl_dd(url, target))
                target.unlink()
                rate = size / MiB / seconds
                results[name].append(rate)
                print(f"run {run}  {name:<10} {seconds:7.2f} s  {rate:8.1f} MiB/s")
        agent = statistics.median(results["agent"])
        reference = statistics.median(results["curl | dd"])
        print(f"\nmedian  agent {agent:.1f} MiB/s   curl | dd {reference:.1f} MiB/s   "
              f"ratio {agent / reference:.2f} (goal >= 0.80)")
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
