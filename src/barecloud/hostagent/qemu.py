"""The real hypervisor driver: one ``qemu-system-x86_64`` per VM, driven over QMP.

No libvirt (docs/design/vms.md): the driver starts each QEMU itself
(``-daemonize -pidfile``: the agent is not its parent, so an agent restart
leaves the VMs running) and reads each VM's state from its QEMU, never from
memory.  Everything a VM is lives in ``state_dir/vms/<uuid>/``:

``spec.json``
    what it was created (or last resized/rebuilt) as; a restarted agent
    starts stopped VMs from it and re-attaches to running ones.
``disk.qcow2``
    its disk: a qcow2 overlay on the cached base image (shared, read-only).
``config.iso``
    its ``config-2`` drive (:mod:`barecloud.agent.configdrive`), a CD-ROM.
``console.log``, ``console.sock``
    the serial console: everything the guest wrote (kept across restarts),
    and a socket for an interactive console.
``vnc.sock``
    the VNC server of its display (a std VGA; no TCP port: the host agent
    relays it to noVNC, :mod:`barecloud.hostagent.consoles`).
``qmp.sock``, ``qemu.pid``
    the monitor and the PID of the running QEMU (QEMU removes it on exit).

A PID counts only if that process is alive, not a zombie, and its command
line names the VM's UUID (a PID file can outlive its QEMU when it is
killed, and the PID be reused).  Processes are ended by that PID, never by
a wrapper's (``ip netns exec`` when ``netns`` is given, see LAB-NOTES).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import time
import uuid as uuid_module
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from barecloud.agent import configdrive
from barecloud.hostagent.driver import Capacity, Nic, VmSpec, VmState
from barecloud.hostagent.firewall import PortRules
from barecloud.hostagent.qmp import QmpClient, QmpCommandError, QmpError
from barecloud.hostagent.tapfilter import TapFilterError, TapFilters

log = logging.getLogger(__name__)

GiB = 2**30
ACCEL_ENV = "BARECLOUD_HOSTAGENT_ACCEL"
# How long QEMU may take to start (it daemonizes once its devices are set up).
START_TIMEOUT = 60.0
# After ``quit`` (or SIGTERM), how long before SIGKILL.
QUIT_TIMEOUT = 5.0
_TAP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IMAGE_FORMATS = ("raw", "qcow2")
_QEMU_VERSION = re.compile(r"version (\d+)\.(\d+)(?:\.(\d+))?")
# query-status "status" → state.  "shutdown" lasts only until QEMU exits (no
# -no-shutdown), so it reads as the SHUTOFF it is about to be.
_STATUS = {
    "running": VmState.RUNNING,
    "paused": VmState.PAUSED,
    "suspended": VmState.PAUSED,
    "prelaunch": VmState.PAUSED,
    "inmigrate": VmState.PAUSED,
    "postmigrate": VmState.PAUSED,
    "finish-migrate": VmState.PAUSED,
    "save-vm": VmState.PAUSED,
    "restore-vm": VmState.PAUSED,
    "debug": VmState.PAUSED,
    "watchdog": VmState.PAUSED,
    "colo": VmState.PAUSED,
    "guest-panicked": VmState.CRASHED,
    "internal-error": VmState.CRASHED,
    "io-error": VmState.CRASHED,
    "shutdown": VmState.SHUTOFF,
}


class DriverError(Exception):
    """A VM operation that failed: QEMU would not start, a command failed, bad spec."""


class VmNotFound(DriverError):
    """This host has no VM with that UUID."""


class QemuDriver:
    """:class:`barecloud.hostagent.driver.Driver` over QEMU (``hypervisor_type`` QEMU)."""

    hypervisor_type = "QEMU"

    def __init__(self, state_dir: Path, *, capacity: Capacity | None = None,
                 accel: str | None = None, qemu: str = "qemu-system-x86_64",
                 netns: str | None = None, soft_reboot_timeout: float = 60.0) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.vms_dir = self.state_dir / "vms"
        self.vms_dir.mkdir(parents=True, exist_ok=True)
        for scratch in self.vms_dir.glob(".new-*"):  # creates cut short by a crash
            shutil.rmtree(scratch, ignore_errors=True)
        self.accel = accel or os.environ.get(ACCEL_ENV) or "tcg"
        self.qemu = qemu
        self.netns = netns
        self.soft_reboot_timeout = soft_reboot_timeout
        self._capacity = capacity
        self.hypervisor_version = qemu_version(qemu)
        self._qmp: dict[str, QmpClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, VmState] = {}
        self.tap_filters = TapFilters(netns)

    # -- Driver ----------------------------------------------------------------

    def capacity(self) -> Capacity:
        """As given, else the host's: CPUs, MemTotal, free space of ``state_dir``."""
        if self._capacity is not None:
            return self._capacity
        return Capacity(vcpus=os.cpu_count() or 1, memory_mb=_mem_total_mb(),
                        disk_gb=shutil.disk_usage(self.state_dir).free // GiB)

    async def create(self, spec: VmSpec) -> None:
        """Overlay disk and config drive (in a scratch directory renamed into place,
        so that a create cut short leaves nothing), then start.  Creating a VM
        that exists only starts it (a retried create)."""
        _check(spec)
        async with self._lock(spec.uuid):
            vm = self._dir(spec.uuid)
            if not (vm / "spec.json").exists():
                scratch = self.vms_dir / f".new-{spec.uuid}-{uuid_module.uuid4().hex[:8]}"
                scratch.mkdir()
                try:
                    await self._make_disk(scratch / "disk.qcow2", spec)
                    _write_atomic(scratch / "config.iso", configdrive.build(spec.config_drive))
                    _write_atomic(scratch / "spec.json", _spec_json(spec))
                    if vm.exists():  # a directory without spec.json: a delete cut short
                        shutil.rmtree(vm)
                    scratch.rename(vm)
                except BaseException:
                    shutil.rmtree(scratch, ignore_errors=True)
                    raise
            await self._start(spec.uuid)

    async def start(self, uuid: str) -> None:
        """Start QEMU on the VM's disk; nothing if it runs."""
        async with self._lock(uuid):
            await self._start(uuid)

    async def stop(self, uuid: str, timeout: float = 30.0) -> None:
        """ACPI powerdown; ``quit`` if the guest has not powered off within
        ``timeout`` seconds (SIGKILL if QEMU does not quit either)."""
        async with self._lock(uuid):
            self._spec(uuid)
            await self._stop(uuid, timeout)

    async def reboot(self, uuid: str, hard: bool) -> None:
        """Hard: ``system_reset`` (a stopped VM is started).  Soft, as Nova's libvirt
        driver: powerdown, wait for the guest to power off (``soft_reboot_timeout``)
        and start it again; a guest that does not power off gets ``system_reset``."""
        async with self._lock(uuid):
            self._spec(uuid)
            pid = self._pid(uuid)
            if pid is None:
                await self._start(uuid)
                return
            if hard:
                await self._execute(uuid, "system_reset")
                return
            await self._execute(uuid, "system_powerdown")
            if await _wait_gone(pid, uuid, self.soft_reboot_timeout):
                await self._forget(uuid)
                await self._start(uuid)
            else:
                log.warning("VM %s did not power off in %s s: resetting it", uuid,
                            self.soft_reboot_timeout)
                await self._execute(uuid, "system_reset")

    async def rebuild(self, spec: VmSpec) -> None:
        """A new overlay on ``spec.image`` (the old disk is dropped) and a new config
        drive; running afterwards."""
        _check(spec)
        async with self._lock(spec.uuid):
            old = self._spec(spec.uuid)
            await self._stop(spec.uuid, 30.0)
            vm = self._dir(spec.uuid)
            fresh = vm / "disk.qcow2.new"
            fresh.unlink(missing_ok=True)
            await self._make_disk(fresh, spec)
            os.replace(fresh, vm / "disk.qcow2")
            _write_atomic(vm / "config.iso", configdrive.build(spec.config_drive))
            _write_atomic(vm / "spec.json", _spec_json(spec))
            await self._update_taps(old, spec)
            await self._start(spec.uuid)

    async def resize(self, spec: VmSpec) -> None:
        """Stop, grow the disk to ``spec.disk_gb`` (a smaller disk is refused: qcow2
        shrinking loses data), start with the new vCPUs and memory."""
        _check(spec)
        async with self._lock(spec.uuid):
            old = self._spec(spec.uuid)
            disk = self._dir(spec.uuid) / "disk.qcow2"
            size = await self._virtual_size(disk)
            if spec.disk_gb * GiB < size:
                raise DriverError(f"VM {spec.uuid}: cannot shrink its disk from {size} bytes "
                                  f"to {spec.disk_gb} GiB")
            await self._stop(spec.uuid, 30.0)
            if spec.disk_gb * GiB > size:
                await self._run("qemu-img", "resize", "-f", "qcow2", str(disk),
                                str(spec.disk_gb * GiB))
            kept = _spec_json(_with(spec, image=old.image, image_format=old.image_format))
            _write_atomic(self._dir(spec.uuid) / "spec.json", kept)
            await self._update_taps(old, spec)
            await self._start(spec.uuid)

    async def delete(self, uuid: str) -> None:
        """QEMU killed (no powerdown: the disk goes anyway), taps and files removed.
        Idempotent: deleting an unknown VM does nothing."""
        async with self._lock(uuid):
            vm = self._dir(uuid)
            spec = self._load(uuid)
            await self._kill(uuid)
            for nic in spec.nics if spec else ():
                await self._ip("link", "del", nic.tap, check=False)
            if vm.exists():
                shutil.rmtree(vm)
            self._last.pop(uuid, None)
        self._locks.pop(uuid, None)

    async def states(self) -> dict[str, VmState]:
        """Every VM of this host: as its QEMU reports it, SHUTOFF without a QEMU."""
        uuids = [p.name for p in self.vms_dir.iterdir()
                 if not p.name.startswith(".") and (p / "spec.json").exists()]
        found = await asyncio.gather(*(self._state(u) for u in uuids))
        return dict(zip(uuids, found, strict=True))

    def console_log(self, uuid: str) -> Path:
        """The serial console's log (all the guest wrote, across restarts)."""
        return self._dir(uuid) / "console.log"

    def console_socket(self, uuid: str) -> Path:
        """The serial console's socket (the chardev's server: one client at a time)."""
        return self._dir(uuid) / "console.sock"

    def vnc_socket(self, uuid: str) -> Path:
        """The VNC server's socket (QEMU's ``-vnc unix:``, of the VM's VGA display)."""
        return self._dir(uuid) / "vnc.sock"

    async def filter_taps(self, wanted: Mapping[str, PortRules]) -> None:
        """The taps' security groups, as nftables in the VMs' namespace (tapfilter.py)."""
        try:
            await self.tap_filters.sync(wanted)
        except TapFilterError as exc:
            raise DriverError(f"security groups not applied: {exc}") from None

    async def close(self) -> None:
        """Close the QMP connections; the VMs keep running."""
        clients, self._qmp = list(self._qmp.values()), {}
        for client in clients:
            await client.close()

    # -- helpers the tests and the agent may use --------------------------------

    def pid(self, uuid: str) -> int | None:
        """The PID of the VM's QEMU, None when it has none."""
        return self._pid(uuid)

    async def execute(self, uuid: str, command: str,
                      arguments: dict[str, Any] | None = None) -> Any:
        """A QMP command to the VM's QEMU (``stop`` pauses, ``cont`` resumes...), on
        the driver's connection: QEMU's monitor serves one client at a time."""
        if self._pid(uuid) is None:
            raise DriverError(f"VM {uuid} is not running")
        return await self._execute(uuid, command, arguments)

    def command(self, spec: VmSpec) -> list[str]:
        """The QEMU command line of ``spec`` (run in the VM's directory: the sockets'
        paths are relative there, as ``sun_path`` is short)."""
        vm = self._dir(spec.uuid)
        accel = "kvm" if self.accel == "kvm" else "tcg"
        cmd = [
            self.qemu,
            "-name", f"guest={_opt(spec.name or spec.uuid)},debug-threads=on",
            "-uuid", spec.uuid,
            "-machine", "pc",
            "-accel", accel,
            "-cpu", "host" if accel == "kvm" else "max",
            "-smp", str(spec.vcpus),
            "-m", f"{spec.memory_mb}M",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-daemonize", "-pidfile", str(vm / "qemu.pid"),
            "-drive", f"file={_opt(str(vm / 'disk.qcow2'))},if=none,id=disk0,format=qcow2,"
                      "cache=writeback,discard=unmap",
            "-device", "virtio-blk-pci,drive=disk0,bootindex=1",
            "-drive", f"file={_opt(str(vm / 'config.iso'))},if=none,id=cd0,media=cdrom,"
                      "readonly=on,format=raw",
            "-device", "ide-cd,drive=cd0,bus=ide.1",
            "-chardev", "socket,id=serial0,path=console.sock,server=on,wait=off,"
                        f"logfile={_opt(str(vm / 'console.log'))},logappend=on",
            "-serial", "chardev:serial0",
            "-qmp", "unix:qmp.sock,server=on,wait=off",
            "-vnc", "unix:vnc.sock",
            "-device", "pvpanic",
            "-device", "virtio-rng-pci",
        ]
        for i, nic in enumerate(spec.nics):
            cmd += ["-netdev", f"tap,id=net{i},ifname={nic.tap},script=no,downscript=no,"
                               "vnet_hdr=off",
                    "-device", f"virtio-net-pci,netdev=net{i},mac={nic.mac.lower()},"
                               f"host_mtu={nic.mtu}"]
        # The display VNC shows (with -nodefaults there is none: VNC would show
        # QEMU's placeholder).  Last, so that the devices before it keep the PCI
        # slots they had before VMs had one (a guest names its NICs by slot).
        cmd += ["-device", "VGA"]
        return cmd

    # -- internals -------------------------------------------------------------

    def _dir(self, uuid: str) -> Path:
        if not uuid or "/" in uuid or uuid.startswith("."):
            raise VmNotFound(f"no VM {uuid!r}")
        return self.vms_dir / uuid

    def _lock(self, uuid: str) -> asyncio.Lock:
        return self._locks.setdefault(uuid, asyncio.Lock())

    def _load(self, uuid: str) -> VmSpec | None:
        try:
            raw = (self._dir(uuid) / "spec.json").read_text()
        except FileNotFoundError:
            return None
        return _spec_from_json(raw)

    def _spec(self, uuid: str) -> VmSpec:
        spec = self._load(uuid)
        if spec is None:
            raise VmNotFound(f"no VM {uuid} on this host")
        return spec

    def _pid(self, uuid: str) -> int | None:
        try:
            pid = int((self._dir(uuid) / "qemu.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _is_our_qemu(pid, uuid) else None

    async def _start(self, uuid: str) -> None:
        spec = self._spec(uuid)
        if self._pid(uuid) is not None:
            return
        await self._forget(uuid)
        vm = self._dir(uuid)
        for name in ("qemu.pid", "qmp.sock", "console.sock", "vnc.sock"):
            (vm / name).unlink(missing_ok=True)
        for nic in spec.nics:
            await self._plug(nic)
        try:  # no guest on a tap its security groups do not guard yet
            await self.tap_filters.ensure(nic.tap for nic in spec.nics)
        except TapFilterError as exc:
            raise DriverError(f"VM {uuid}: security groups not applied: {exc}") from None
        cmd = self._netns_prefix() + self.command(spec)
        log.info("starting VM %s: %s", uuid, " ".join(cmd))
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=vm, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), START_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            await self._kill(uuid)
            raise DriverError(f"VM {uuid}: QEMU did not start in {START_TIMEOUT} s") from None
        if proc.returncode != 0:
            raise DriverError(f"VM {uuid}: QEMU failed to start (exit {proc.returncode}): "
                              f"{out.decode(errors='replace').strip()[-2000:]}")
        if self._pid(uuid) is None:
            raise DriverError(f"VM {uuid}: QEMU started but is gone (see {vm / 'console.log'})")
        self._last[uuid] = VmState.RUNNING

    async def _stop(self, uuid: str, timeout: float) -> None:
        pid = self._pid(uuid)
        if pid is None:
            await self._forget(uuid)
            return
        try:
            await self._execute(uuid, "system_powerdown")
        except QmpError as exc:
            log.warning("VM %s: system_powerdown failed (%s)", uuid, exc)
        if not await _wait_gone(pid, uuid, timeout):
            log.info("VM %s did not power off in %s s: quitting QEMU", uuid, timeout)
            await self._kill(uuid)
        await self._forget(uuid)

    async def _kill(self, uuid: str) -> None:
        """End the VM's QEMU: ``quit``, then SIGKILL by its PID."""
        pid = self._pid(uuid)
        if pid is None:
            await self._forget(uuid)
            return
        try:
            await self._execute(uuid, "quit", timeout=QUIT_TIMEOUT)
        except QmpError as exc:
            log.info("VM %s: quit failed (%s): killing PID %d", uuid, exc, pid)
        if not await _wait_gone(pid, uuid, QUIT_TIMEOUT):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not await _wait_gone(pid, uuid, QUIT_TIMEOUT):
                raise DriverError(f"VM {uuid}: QEMU (PID {pid}) survived SIGKILL")
        await self._forget(uuid)

    async def _state(self, uuid: str) -> VmState:
        """Not under the VM's lock: a stop in progress must not hold up the report."""
        if self._pid(uuid) is None:
            state = VmState.SHUTOFF
        else:
            try:
                status = await self._execute(uuid, "query-status", timeout=5.0)
                state = _STATUS.get(str(status.get("status")), VmState.RUNNING)
            except QmpError as exc:
                # Alive but not answering (busy, or another client holds the
                # monitor): what it was last seen as.
                state = self._last.get(uuid, VmState.RUNNING)
                log.warning("VM %s: query-status failed (%s); reporting %s",
                            uuid, exc, state.value)
            if self._pid(uuid) is None:
                state = VmState.SHUTOFF
        self._last[uuid] = state
        return state

    async def _client(self, uuid: str) -> QmpClient:
        client = self._qmp.get(uuid)
        if client is None or client.closed:
            client = await QmpClient.connect(self._dir(uuid) / "qmp.sock", timeout=5.0)
            self._qmp[uuid] = client
        return client

    async def _execute(self, uuid: str, command: str, arguments: dict[str, Any] | None = None,
                       *, timeout: float = 10.0) -> Any:
        """A QMP command, on a new connection if the cached one is gone."""
        for attempt in (1, 2):
            client = await self._client(uuid)
            try:
                return await client.execute(command, arguments, timeout=timeout)
            except QmpCommandError:
                raise
            except QmpError:
                if command == "quit" and self._pid(uuid) is None:
                    return None
                await self._forget(uuid)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _forget(self, uuid: str) -> None:
        client = self._qmp.pop(uuid, None)
        if client is not None:
            await client.close()

    async def _make_disk(self, path: Path, spec: VmSpec) -> None:
        """A qcow2 overlay on the base image, grown to ``disk_gb`` (0: the image's size)."""
        image = _absolute(spec.image)
        await self._run("qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image),
                        "-F", spec.image_format, str(path))
        size = await self._virtual_size(path)
        if spec.disk_gb and spec.disk_gb * GiB < size:
            raise DriverError(f"VM {spec.uuid}: the image ({size} bytes) is bigger than "
                              f"its {spec.disk_gb} GiB disk")
        if spec.disk_gb * GiB > size:
            await self._run("qemu-img", "resize", "-q", "-f", "qcow2", str(path),
                            str(spec.disk_gb * GiB))

    async def _virtual_size(self, disk: Path) -> int:
        out = await self._run("qemu-img", "info", "--output=json", "-U", str(disk))
        return int(json.loads(out)["virtual-size"])

    async def _plug(self, nic: Nic) -> None:
        """The NIC's tap: created (persistent, so QEMU can reopen it), MTU set,
        on its bridge, up."""
        exists = await self._ip("link", "show", "dev", nic.tap, check=False, quiet=True)
        if exists is None:
            await self._ip("tuntap", "add", "dev", nic.tap, "mode", "tap")
        await self._ip("link", "set", "dev", nic.tap, "mtu", str(nic.mtu))
        if nic.bridge:
            await self._ip("link", "set", "dev", nic.tap, "master", nic.bridge)
        else:
            await self._ip("link", "set", "dev", nic.tap, "nomaster")
        await self._ip("link", "set", "dev", nic.tap, "up")

    async def _update_taps(self, old: VmSpec, new: VmSpec) -> None:
        """Taps of NICs the new spec dropped are deleted (new ones come at start)."""
        keep = {nic.tap for nic in new.nics}
        for nic in old.nics:
            if nic.tap not in keep:
                await self._ip("link", "del", nic.tap, check=False)

    def _netns_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    async def _ip(self, *args: str, check: bool = True, quiet: bool = False) -> str | None:
        """``ip`` (in ``netns`` when given); None when it failed and ``check`` is off."""
        cmd = ["ip", *(["-n", self.netns] if self.netns else []), *args]
        try:
            return await self._run(*cmd)
        except DriverError as exc:
            if check:
                raise
            if not quiet:
                log.info("%s", exc)
            return None

    async def _run(self, *cmd: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise DriverError(f"{' '.join(cmd)} failed (exit {proc.returncode}): "
                              f"{err.decode(errors='replace').strip()}")
        return out.decode()


def qemu_version(qemu: str = "qemu-system-x86_64") -> int:
    """QEMU's version as Nova reports it (7.2.0 → 7002000); 0 when QEMU is missing."""
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    found = _QEMU_VERSION.search(out)
    if found is None:
        return 0
    major, minor, micro = (int(x or 0) for x in found.groups())
    return major * 1_000_000 + minor * 1_000 + micro


def _check(spec: VmSpec) -> None:
    """Refuse what would make a bad command line or a path outside the VM's directory."""
    try:
        uuid_module.UUID(spec.uuid)
    except ValueError:
        raise DriverError(f"VM UUID {spec.uuid!r} is not a UUID") from None
    if spec.image_format not in _IMAGE_FORMATS:
        raise DriverError(f"VM {spec.uuid}: image format {spec.image_format!r} is not "
                          f"one of {', '.join(_IMAGE_FORMATS)}")
    if spec.vcpus < 1 or spec.memory_mb < 16 or spec.disk_gb < 0:
        raise DriverError(f"VM {spec.uuid}: {spec.vcpus} vCPUs, {spec.memory_mb} MB, "
                          f"{spec.disk_gb} GB is not a VM")
    if not os.path.isfile(spec.image):
        raise DriverError(f"VM {spec.uuid}: no image {spec.image}")
    taps = [nic.tap for nic in spec.nics]
    if len(set(taps)) != len(taps):
        raise DriverError(f"VM {spec.uuid}: a tap twice in {taps}")
    for nic in spec.nics:
        if not _TAP_NAME.match(nic.tap):
            raise DriverError(f"VM {spec.uuid}: bad tap name {nic.tap!r} (15 characters "
                              "at most: letters, digits, _ . -)")
        if not _MAC.match(nic.mac):
            raise DriverError(f"VM {spec.uuid}: bad MAC address {nic.mac!r}")
        if nic.bridge is not None and not _TAP_NAME.match(nic.bridge):
            raise DriverError(f"VM {spec.uuid}: bad bridge name {nic.bridge!r}")
        if not 68 <= nic.mtu <= 65535:
            raise DriverError(f"VM {spec.uuid}: bad MTU {nic.mtu}")


def _opt(value: str) -> str:
    """A value inside a QEMU option list (a comma is written twice)."""
    return value.replace(",", ",,")


def _with(spec: VmSpec, **changes: Any) -> VmSpec:
    fields = {**_spec_dict(spec), **changes}
    return VmSpec(**fields)


def _spec_dict(spec: VmSpec) -> dict[str, Any]:
    return {"uuid": spec.uuid, "name": spec.name, "vcpus": spec.vcpus,
            "memory_mb": spec.memory_mb, "disk_gb": spec.disk_gb, "image": spec.image,
            "image_format": spec.image_format, "config_drive": spec.config_drive,
            "nics": spec.nics}


def _spec_json(spec: VmSpec) -> bytes:
    """What a restarted agent needs to start the VM; not the config drive (it is
    in config.iso, and may hold secrets)."""
    data = {**_spec_dict(spec), "image": str(_absolute(spec.image)),
            "nics": [{"mac": n.mac, "tap": n.tap, "bridge": n.bridge, "mtu": n.mtu}
                     for n in spec.nics]}
    del data["config_drive"]
    return json.dumps(data, indent=1).encode()


def _spec_from_json(raw: str) -> VmSpec:
    data = json.loads(raw)
    return VmSpec(uuid=data["uuid"], name=data["name"], vcpus=int(data["vcpus"]),
                  memory_mb=int(data["memory_mb"]), disk_gb=int(data["disk_gb"]),
                  image=Path(data["image"]), image_format=data["image_format"],
                  config_drive={},
                  nics=tuple(Nic(mac=n["mac"], tap=n["tap"], bridge=n.get("bridge"),
                                 mtu=int(n.get("mtu", 1500))) for n in data.get("nics", ())))


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _is_our_qemu(pid: int, uuid: str) -> bool:
    """Alive, not a zombie, and started with ``-uuid <uuid>``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    if not fields or fields[0] in ("Z", "X", "x"):
        return False
    return any(a == b"-uuid" and b == uuid.encode() for a, b in itertools.pairwise(cmdline))


async def _wait_gone(pid: int, uuid: str, timeout: float) -> bool:
    """True once that QEMU is gone; False if it still runs after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while _is_our_qemu(pid, uuid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def _mem_total_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0
