"""What a lab machine runs when it starts: network boot (iPXE) or its disk.

The machine knows only its MACs, its disk and the boot URL its network
gives it (loopback lab: ``lab.json``'s ``boot_url``, standing in for the
DHCP answer).  Network boot follows the iPXE script from there, fetches the
kernel and ramdisk over HTTP and, for the lab kernel, runs the ramdisk (the
agent zipapp) with python3 against the machine's own disk file: the real
agent code, no shortcut.  Disk boot reads the partition table and the
config drive, as cloud-init would, prints what it found on the serial
console and offers a login there (lab/login.py: a command interpreter,
never a shell on the host).

In a netns lab the machine has its own network: ``NetnsFirmware`` runs the
whole boot (real DHCP, this iPXE interpreter, the agent or the disk's
"OS") as one process inside the machine's namespace (nsboot.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from barecloud.agent import configdrive as agent_configdrive
from barecloud.lab import netns as lab_netns
from barecloud.lab.login import LoginConsole
from barecloud.lab.machine import Machine
from barecloud.lab.serial import SerialPort, Terminal

log = logging.getLogger("barecloud.lab.firmware")

LAB_KERNEL_MAGIC = b"#!barecloud-lab-kernel"
# The agent's exit statuses on the lab platform (docs/design/provisioning.md).
EXIT_POWER_OFF = 100
EXIT_REBOOT = 101
MAX_CHAIN_DEPTH = 8
FETCH_TIMEOUT = 30.0
RAMDISK_DIR = "ramdisk"
HARDWARE_FILE = "hardware.json"


class BootFailed(Exception):
    """This boot device gave nothing to run; the firmware tries the next."""


@dataclass
class Loaded:
    """What an iPXE script left to boot: kernel, ramdisk, command line."""

    kernel: bytes = b""
    initrd: bytes = b""
    cmdline: str = ""
    variables: dict[str, str] = field(default_factory=dict)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as resp:
        data: bytes = resp.read()
        return data


def expand(text: str, variables: dict[str, str]) -> str:
    """iPXE's ``${name}`` and ``${name:hexhyp}`` expansion (unknown names: empty)."""

    def one(match: re.Match[str]) -> str:
        name, _, kind = match.group(1).partition(":")
        value = variables.get(name.removeprefix("net0/"), "")
        return value.replace(":", "-") if kind == "hexhyp" else value

    return re.sub(r"\$\{([^}]+)\}", one, text)


class Script:
    """A small iPXE interpreter: the commands boot scripts use, nothing more."""

    def __init__(self, mac: str, console: Any) -> None:
        self.loaded = Loaded(variables={"mac": mac})
        self.console = console

    def run(self, url: str, depth: int = 0) -> str:
        """Run the script at ``url``; return "boot" or "exit"."""
        if depth > MAX_CHAIN_DEPTH:
            raise BootFailed("too many chained scripts")
        try:
            text = _fetch(url).decode()
        except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
            raise BootFailed(f"could not fetch {url}: {exc}") from None
        lines = [line.strip() for line in text.splitlines()]
        if not lines or not lines[0].startswith("#!ipxe"):
            raise BootFailed(f"{url} is not an iPXE script")
        labels = {line[1:]: i for i, line in enumerate(lines) if line.startswith(":")}
        i = 1
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line or line.startswith(("#", ":")):
                continue
            command, _, fallback = (part.strip() for part in line.partition("||"))
            try:
                outcome = self._command(expand(command, self.loaded.variables), url, depth)
            except BootFailed:
                if not fallback:
                    raise
                outcome = self._command(expand(fallback, self.loaded.variables), url, depth)
            if outcome in ("boot", "exit"):
                return outcome
            if outcome.startswith("goto "):
                label = outcome[5:]
                if label not in labels:
                    raise BootFailed(f"no label {label!r} in {url}")
                i = labels[label] + 1
        raise BootFailed(f"{url} ended without booting")

    def _command(self, command: str, base: str, depth: int) -> str:
        words = command.split()
        if not words:
            return ""
        verb, args = words[0], [w for w in words[1:] if not w.startswith("--")]
        if verb == "chain":
            self.console(f"iPXE: chain {_hide(args[0])}")
            return self.run(urllib.parse.urljoin(base, args[0]), depth + 1)
        if verb in ("kernel", "imgexec"):
            self.loaded.kernel = self._get(base, args[0])
            self.loaded.cmdline = " ".join(args[1:])
            return "boot" if verb == "imgexec" else ""
        if verb in ("initrd", "imgfetch", "module"):
            self.loaded.initrd = self._get(base, args[0])
            return ""
        if verb == "boot":
            if not self.loaded.kernel:
                raise BootFailed("boot: no kernel loaded")
            return "boot"
        if verb == "exit":
            return "exit"
        if verb == "goto":
            return f"goto {args[0]}"
        if verb == "set" and args:
            self.loaded.variables[args[0]] = " ".join(args[1:])
            return ""
        if verb == "echo":
            self.console(f"iPXE: {' '.join(words[1:])}")
            return ""
        if verb in ("sleep", "dhcp", "ifopen", "imgfree", "prompt"):
            return ""
        raise BootFailed(f"iPXE command not supported by the lab: {verb}")

    def _get(self, base: str, url: str) -> bytes:
        full = urllib.parse.urljoin(base, url)
        try:
            data = _fetch(full)
        except (urllib.error.URLError, OSError) as exc:
            raise BootFailed(f"could not fetch {_hide(full)}: {exc}") from None
        self.console(f"iPXE: {_hide(full)} ({len(data)} bytes)")
        return data


def _hide(text: str) -> str:
    """Console lines never show a token."""
    return re.sub(r"(token=)\S+", r"\1******", text)


class Firmware:
    """Boots one machine; at most one run (one agent process) at a time."""

    def __init__(self, machine: Machine, boot_url: Callable[[], str]) -> None:
        self.machine = machine
        self.boot_url = boot_url
        self.generation = 0
        self.agent: subprocess.Popen[bytes] | None = None
        self.task: asyncio.Task[None] | None = None
        self.peak_kib = 0
        self.login: LoginConsole | None = None

    # --- called by the machine (in the shard's event loop)

    def start(self, device: str) -> None:
        self.stop()
        self.generation += 1
        self.task = asyncio.get_running_loop().create_task(
            self._boot(device, self.generation))

    def stop(self) -> None:
        """Power is gone: whatever ran stops at once."""
        self.generation += 1
        if self.task is not None and not self.task.done():
            self.task.cancel()
        login, self.login = self.login, None
        if login is not None:
            login.stop()
        agent, self.agent = self.agent, None
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGKILL)

    # --- booting

    async def _boot(self, device: str, generation: int) -> None:
        try:
            if device == "pxe":
                try:
                    await self._netboot(generation)
                    return
                except BootFailed as exc:
                    self.machine.console(f"PXE: {exc}; trying the disk")
            hostname = await asyncio.to_thread(self._diskboot)
            port = self.machine.serial
            if hostname is not None and generation == self.generation and isinstance(
                port, SerialPort
            ):
                self.login = LoginConsole(self.machine, port, hostname)
                self.login.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a lab bug must not take the shard down
            log.exception("%s: firmware failed", self.machine.name)
            self.machine.console(f"firmware error: {exc}")

    async def _netboot(self, generation: int) -> None:
        url = await asyncio.to_thread(self.boot_url)
        if not url:
            raise BootFailed("no DHCP answer (the lab has no boot server)")
        mac = self.machine.macs[0]
        self.machine.console(f"PXE: {mac}: boot file {url}")
        script = Script(mac, self.machine.console)
        outcome = await asyncio.to_thread(script.run, url)
        if outcome == "exit":
            raise BootFailed("iPXE exited to the next boot device")
        loaded = script.loaded
        if not loaded.kernel.startswith(LAB_KERNEL_MAGIC):
            raise BootFailed("the kernel is not one the loopback lab can run "
                             "(a real Linux kernel needs the QEMU lab)")
        if generation != self.generation:
            return
        self._run_agent(loaded, generation)

    def _run_agent(self, loaded: Loaded, generation: int) -> None:
        m = self.machine
        argv = agent_argv(m, loaded)
        loop = asyncio.get_running_loop()
        # Its output goes to console.log and, through the shard, to the serial port.
        reader, writer = os.pipe()
        try:
            self.agent = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=writer, stderr=writer,
                cwd=m.dir / RAMDISK_DIR, start_new_session=True,
            )
        except BaseException:
            os.close(reader)
            raise
        finally:
            os.close(writer)
        os.set_blocking(reader, False)
        loop.add_reader(reader, self._agent_output, reader)
        agent = self.agent
        threading.Thread(target=self._reap, args=(agent, generation, loop), daemon=True,
                         name=f"reap-{m.name}").start()

    def _agent_output(self, reader: int) -> None:
        try:
            data = os.read(reader, 65536)
        except BlockingIOError:
            return
        if not data:
            asyncio.get_running_loop().remove_reader(reader)
            os.close(reader)
            return
        m = self.machine
        with m.console_path.open("ab") as console:
            console.write(data)
        if m.serial is not None:
            m.serial.show(data.replace(b"\n", b"\r\n"))

    def _reap(self, agent: subprocess.Popen[bytes], generation: int,
              loop: asyncio.AbstractEventLoop) -> None:
        _, status, usage = os.wait4(agent.pid, 0)
        agent.returncode = os.waitstatus_to_exitcode(status)
        loop.call_soon_threadsafe(self._agent_ended, agent.returncode, usage.ru_maxrss,
                                  generation)

    def _agent_ended(self, code: int, peak_kib: int, generation: int) -> None:
        m = self.machine
        self.peak_kib = peak_kib
        m.console(f"agent exited with status {code}, peak memory {peak_kib / 1024:.1f} MiB")
        if generation != self.generation:
            return  # the BMC powered off or reset the machine meanwhile
        self.agent = None
        if code == EXIT_REBOOT:
            m.power("reset", "os")
        else:
            # Power off asked, or the ramdisk's init died: the machine halts.
            m.power("off", "os")

    def _diskboot(self) -> str | None:
        """Boot the disk; the hostname its OS came up with, None if nothing booted."""
        drive = read_disk(self.machine)
        if drive is None:
            return None
        hostname = str(drive["meta_data"].get("hostname") or self.machine.name)
        self.machine.console(f"login: {hostname} is up")
        return hostname


class NetnsFirmware:
    """Boots one machine of the netns lab: the boot runs inside its namespace.

    The whole boot (DHCP, iPXE over HTTP, the agent, or the disk's "OS" and
    its services) is one process, ``python -m barecloud.lab.nsboot``, started
    in the machine's namespace by ``ip netns exec`` in a session of its own:
    it reaches only what the machine's cables reach, and pulling the power
    is one SIGKILL to its process group (and to whatever else runs in the
    namespace: the login shell has a session of its own).  Its exit status
    is what the machine does next (nsboot.py): 100 power off, 101 reset, 0
    halted.  Its stdin is a pty, the machine's serial line (serial.Terminal).
    """

    def __init__(self, machine: Machine, netns: str) -> None:
        self.machine = machine
        self.netns = netns
        self.generation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.terminal: Terminal | None = None

    def start(self, device: str) -> None:
        self.stop()
        self.generation += 1
        m = self.machine
        argv = lab_netns.exec_argv(self.netns, [
            sys.executable, "-m", "barecloud.lab.nsboot", "--machine-dir", str(m.dir),
            "--device", "pxe" if device == "pxe" else "disk"])
        # Its terminal: a pty whose slave is the boot's stdin (its console lines,
        # the agent's output and the OS's login shell use it), whose master the
        # shard reads onto the machine's serial port.
        terminal = Terminal(m.serial) if isinstance(m.serial, SerialPort) else None
        stdin = terminal.slave if terminal is not None else subprocess.DEVNULL
        try:
            with m.console_path.open("ab") as console:
                proc = subprocess.Popen(argv, stdin=stdin, stdout=console,
                                        stderr=console, cwd=m.dir, start_new_session=True)
        except BaseException:
            if terminal is not None:
                terminal.close()
            raise
        if terminal is not None:
            terminal.close_slave()
        self.terminal = terminal
        self.proc = proc
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._reap, args=(proc, self.generation, loop), daemon=True,
                         name=f"reap-{m.name}").start()

    def stop(self) -> None:
        """Power is gone: everything the machine ran dies, its addresses go."""
        self.generation += 1
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            # The group outlives its leader only while members are left; the
            # leader is not reaped yet (returncode None), so the id is ours.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        # What left the group (a hypervisor's QEMUs daemonize) is still the machine's.
        lab_netns.kill_inside([self.netns])
        lab_netns.flush(self.netns, [f"eth{i}" for i in range(len(self.machine.macs))])
        terminal, self.terminal = self.terminal, None
        if terminal is not None:
            terminal.close()

    def _reap(self, proc: subprocess.Popen[bytes], generation: int,
              loop: asyncio.AbstractEventLoop) -> None:
        _, status, _usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        loop.call_soon_threadsafe(self._ended, proc.returncode, generation)

    def _ended(self, code: int, generation: int) -> None:
        if generation != self.generation:
            return  # the BMC powered off or reset the machine meanwhile
        self.proc = None
        m = self.machine
        if code == EXIT_REBOOT:
            m.power("reset", "os")
        elif code == EXIT_POWER_OFF:
            m.power("off", "os")
        elif code != 0:
            m.console(f"firmware error: nsboot exited with status {code}")


def agent_argv(m: Machine, loaded: Loaded) -> list[str]:
    """Put the ramdisk and hardware.json in place; the command that boots the agent."""
    rundir = m.dir / RAMDISK_DIR
    rundir.mkdir(exist_ok=True)
    ramdisk = rundir / "ramdisk.pyz"
    ramdisk.write_bytes(loaded.initrd)
    hardware = m.dir / HARDWARE_FILE
    hardware.write_text(json.dumps(hardware_of(m), indent=1))
    m.console(f"kernel: {_hide(loaded.cmdline)}")
    return [sys.executable, "-I", "-S", str(ramdisk), "--cmdline", loaded.cmdline,
            "--hardware", str(hardware)]


def read_disk(m: Machine) -> dict[str, Any] | None:
    """Boot the disk as far as cloud-init's config drive: print what it found.

    Returns the config drive's files (agent.configdrive.read_config_drive's
    dict; ``meta_data`` empty if it has none), or None when the disk holds
    nothing bootable.
    """
    try:
        found = agent_configdrive.read_config_drive(m.disk_path)
    except (OSError, ValueError) as exc:
        m.console(f"disk: {exc}")
        found = None
    if found is None:
        m.console("disk: no operating system found: No bootable device.")
        return None
    meta: dict[str, Any] = found.get("meta_data") or {}
    m.console(f"disk: config drive found ({found.get('partition')})")
    m.console(f"cloud-init: instance {meta.get('uuid')}")
    m.console(f"cloud-init: hostname {meta.get('hostname')}")
    for name, key in sorted((meta.get("public_keys") or {}).items()):
        m.console(f"cloud-init: ssh key {name}: {key}")
    if found.get("user_data") is not None:
        m.console(f"cloud-init: user data, {len(found['user_data'])} bytes")
    return {**found, "meta_data": meta}


def hardware_of(machine: Machine) -> dict[str, Any]:
    """The agent's view of this machine (what /sys and /proc would tell)."""
    return {
        "interfaces": [{"name": f"eth{i}", "mac_address": mac}
                       for i, mac in enumerate(machine.macs)],
        "disks": [{"name": "vda", "path": str(machine.disk_path),
                   "size": Path(machine.disk_path).stat().st_size}],
        "cpus": machine.profile.cpus,
        "memory_mb": machine.profile.memory_mb,
        "cpu_arch": machine.profile.cpu_arch,
        "system_vendor": {"manufacturer": "barecloud", "product_name": "lab machine",
                          "serial_number": machine.uuid},
        "platform": "lab",
    }
