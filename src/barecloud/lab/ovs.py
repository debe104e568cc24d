"""The netns lab's Open vSwitch: ovsdb-server and ovs-vswitchd from a scratch directory.

``lab up --netns --switch openvswitch`` makes the lab switch an Open vSwitch
bridge instead of bare veths for barecloud's ``linux-bridge`` driver.  There
is no kernel datapath on these machines (LAB-NOTES), so the bridge uses the
userspace one (``datapath_type=netdev``): ovs-vswitchd reads and writes the
ports with packet sockets, and therefore runs *inside* the switch namespace,
where the ports are.  The database and every socket, log and PID file live
in ``<lab>/ovs/`` (``OVS_RUNDIR``, ``OVS_DBDIR``, ``OVS_LOGDIR``), so two
labs and the distribution's own service never meet.

The lab only starts the switch and makes the bridge; ports join it when
barecloud's ``openvswitch`` driver binds them (an access port with the
segment's ``tag``), exactly as a linux-bridge lab leaves ports on no bridge.
Both daemons are detached processes of their own; ``stop`` ends them by the
PIDs in their PID files (``lab down``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from barecloud.lab.machine import LabError

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
BRIDGE = "br0"
DAEMONS = ("ovsdb-server", "ovs-vswitchd")
TIMEOUT = 30.0


def rundir(lab_path: Path) -> Path:
    return lab_path / "ovs"


def db_socket(run: Path) -> str:
    return f"unix:{run / 'db.sock'}"


def _env(run: Path) -> dict[str, str]:
    return {**os.environ, "OVS_RUNDIR": str(run), "OVS_DBDIR": str(run),
            "OVS_LOGDIR": str(run), "OVS_SYSCONFDIR": str(run)}


def _run(argv: list[str], run: Path) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                              env=_env(run), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(argv)}: {exc}") from None
    if proc.returncode:
        raise LabError(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _pid(run: Path, daemon: str) -> int | None:
    """The daemon's PID if it runs (its PID file names a live process of that name)."""
    try:
        pid = int((run / f"{daemon}.pid").read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if daemon.startswith(comm) else None


def check_host() -> None:
    if not SCHEMA.exists():
        raise LabError("Open vSwitch is missing (Debian: openvswitch-switch; "
                       "scripts/system-packages installs it)")


def start(netns: str, run: Path) -> None:
    """Make the lab's switch run (idempotent): the database, the daemon, the bridge."""
    check_host()
    run.mkdir(parents=True, exist_ok=True)
    db = run / "conf.db"
    if not db.exists():
        _run(["ovsdb-tool", "create", str(db), str(SCHEMA)], run)
    common = ["--detach", "--no-chdir", "--log-file"]
    if _pid(run, "ovsdb-server") is None:
        _run(["ovsdb-server", str(db), f"--remote=p{db_socket(run)}",
              f"--pidfile={run / 'ovsdb-server.pid'}",
              f"--unixctl={run / 'ovsdb-server.ctl'}", *common], run)
    vsctl = ["ovs-vsctl", f"--db={db_socket(run)}", f"--timeout={int(TIMEOUT)}"]
    _run([*vsctl, "--no-wait", "init"], run)
    if _pid(run, "ovs-vswitchd") is None:
        _run(["ip", "netns", "exec", netns, "ovs-vswitchd", db_socket(run),
              f"--pidfile={run / 'ovs-vswitchd.pid'}",
              f"--unixctl={run / 'ovs-vswitchd.ctl'}", *common], run)
    _run([*vsctl, "--may-exist", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE,
          "datapath_type=netdev"], run)


def stop(run: Path, timeout: float = 10.0) -> list[int]:
    """End the switch's daemons by their PID files; the PIDs ended."""
    ended = []
    for daemon in reversed(DAEMONS):
        pid = _pid(run, daemon)
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid(run, daemon) == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid(run, daemon) == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        ended.append(pid)
    return ended
