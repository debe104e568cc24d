"""The Python commands the suite runs hundreds of times, forked from a process that
has already imported them.

An ``openstack`` call costs ~0.9 s of CPU, two thirds of it imports; a
``barecloud serve`` start 1.4-2.6 s, most of it imports. A run makes ~300 of the
one and ~150 of the other: a sixth of the suite's CPU. So each test process
keeps one *preloader* (``python -m tests.preloaded SOCKET``) that imports both
once; a command is a fork of it that takes the command's argv, environment,
working directory and standard streams (passed over the socket), then runs the
entry point the installed script runs (``openstackclient.shell.main``, ``python
-m barecloud``): the unmodified client, the real service.

What a fork does not redo is what happens at import: the command's environment
is in place from ``main`` on, not while its modules load, and ``PYTHONPATH`` is
the preloader's (cliff reads ``sys.argv[0]`` then, so the preloader's is the
``openstack`` script's; ``tests/test_preloaded.py`` compares with new
processes).  ``BARECLOUD_TEST_EXEC=1`` runs every command as a new process
instead, as before.

A command started with ``popen`` is a grandchild of the preloader, not a child
of the test: ``Child`` stands in for ``subprocess.Popen`` (its PID, its exit
status as Popen reports it, signals by PID), its exit status relayed by the
fork in between, which waits for it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

BIN = Path(sys.executable).parent
OPENSTACK = BIN / "openstack"
PRELOAD = ("barecloud.cli.main", "barecloud.startup.launch", "openstackclient.shell")
# openstack command modules to import up front: those the suite's calls load.
PLUGIN_PACKAGES = ("openstackclient.", "ironicclient.osc.", "blazarclient.osc.")


# --- the preloader --------------------------------------------------------------


def _preload() -> None:
    import importlib
    from importlib.metadata import distributions

    for name in PRELOAD:
        importlib.import_module(name)
    for ep in (ep for dist in distributions() for ep in dist.entry_points):
        if ep.group.startswith("openstack.") and ep.value.startswith(PLUGIN_PACKAGES):
            with contextlib.suppress(Exception):
                importlib.import_module(ep.value.split(":", 1)[0])


def _run_command(request: dict[str, Any]) -> int:
    """In the fork that becomes the command: run it, return its exit status."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if os.environ.get("PYTHONWARNINGS") == "ignore":
        import warnings

        warnings.simplefilter("ignore")
    sys.argv = list(request["argv"])
    try:
        if request["target"] == "openstack":
            from openstackclient.shell import main

            return int(main(sys.argv[1:]) or 0)
        import runpy

        runpy.run_module(request["target"], run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    except BaseException:  # what an interpreter prints for an uncaught exception
        import traceback

        traceback.print_exc()
        return 1


def _handle(conn: socket.socket) -> None:
    """The fork in between: start the command, relay its PID and exit status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
    request = json.loads(data)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        conn.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        code = 1
        try:
            code = _run_command(request)
        finally:
            with contextlib.suppress(BaseException):  # as an interpreter ends
                atexit._run_exitfuncs()
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code & 0xFF)
    for fd in fds:
        os.close(fd)
    conn.sendall(f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    with contextlib.suppress(OSError):
        conn.sendall(f"exit {code}\n".encode())


def serve(path: str) -> None:
    parent = os.getppid()
    # cliff names the program at import, from sys.argv[0] (``openstack --version``).
    sys.argv = [str(OPENSTACK)]
    _preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the forks in between reap themselves
    print("ready", flush=True)
    with open(os.devnull, "wb") as null:  # nobody reads the pipe after this line
        os.dup2(null.fileno(), sys.stdout.fileno())
    listener.settimeout(2.0)
    while True:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test process is gone, however it ended
                shutil.rmtree(os.path.dirname(path), ignore_errors=True)
                return
            continue
        conn.settimeout(None)
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            try:
                _handle(conn)
            finally:
                os._exit(0)
        conn.close()


# --- the test side ----------------------------------------------------------------


class Child:
    """A command started by the preloader, as ``subprocess.Popen`` shows one."""

    def __init__(self, conn: socket.socket, args: list[str]) -> None:
        self.conn, self.args = conn, args
        self.returncode: int | None = None
        self._buffer = b""
        self.pid = int(self._line(60.0).split()[1])

    def _line(self, timeout: float | None) -> str:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.conn.settimeout(left)
            try:
                chunk = self.conn.recv(4096)
            except (TimeoutError, BlockingIOError):  # a timeout of 0: not yet
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0) from None
            if not chunk:
                raise RuntimeError(f"the preloader lost {self.args}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = int(self._line(timeout).split()[1])
            self.conn.close()
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(0.0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Preloader:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="barecloud-preload-")
        self.path = os.path.join(self.dir, "socket")
        repo = Path(__file__).resolve().parents[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.preloaded", self.path], cwd=repo,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError("the preloader did not start (its error is above)")
        atexit.register(self.close)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, target: str, argv: list[str], env: dict[str, str], cwd: str,
              streams: tuple[int, int, int]) -> Child:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        request = {"target": target, "argv": argv, "env": env, "cwd": cwd}
        socket.send_fds(conn, [json.dumps(request).encode()], list(streams))
        return Child(conn, argv)


_preloader: tuple[int, _Preloader] | None = None


def _get() -> _Preloader | None:
    global _preloader
    if os.environ.get("BARECLOUD_TEST_EXEC") == "1":
        return None
    if _preloader is None or _preloader[0] != os.getpid():
        _preloader = (os.getpid(), _Preloader())
    return _preloader[1]


def _target(cmd: list[str]) -> str | None:
    """What the preloader runs for ``cmd``, or None: a new process, as asked."""
    if Path(cmd[0]) == OPENSTACK:
        return "openstack"
    if cmd[0] == sys.executable and len(cmd) > 2 and cmd[1] == "-m" and cmd[2] == "barecloud":
        return "barecloud"
    return None


def popen(cmd: list[str], *, env: dict[str, str] | None = None, cwd: str | Path | None = None,
          stdout: IO[Any] | int | None = None, stderr: IO[Any] | int | None = None,
          ) -> Child | subprocess.Popen[bytes]:
    """``subprocess.Popen(cmd, stdin=DEVNULL, ...)``, forked from the preloader when
    it holds ``cmd``'s program; ``stdout``/``stderr`` are files (or STDOUT)."""
    target, preloader = _target(cmd), _get()
    if target is None or preloader is None:
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stderr)
    out = sys.stdout.fileno() if stdout is None or isinstance(stdout, int) else stdout.fileno()
    err = out if stderr == subprocess.STDOUT else (
        sys.stderr.fileno() if stderr is None or isinstance(stderr, int) else stderr.fileno())
    with open(os.devnull, "rb") as null:
        argv = ["openstack", *cmd[1:]] if target == "openstack" else ["barecloud", *cmd[3:]]
        return preloader.spawn(target, argv, dict(os.environ if env is None else env),
                               str(cwd or os.getcwd()), (null.fileno(), out, err))


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float,
        capture_output: bool = True, text: bool = True, check: bool = False,
        ) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(cmd, capture_output=True, text=True, check=False, ...)``
    through ``popen``: the one way the tests run their commands, spelled as they
    would spell it to ``subprocess.run``."""
    if not capture_output or not text or check:
        raise TypeError("preloaded.run captures text output and leaves the status to you")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = popen(cmd, env=env, stdout=out, stderr=err)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, code, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))


if __name__ == "__main__":
    serve(sys.argv[1])
