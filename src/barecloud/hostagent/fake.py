"""A hypervisor in memory: the host agent without QEMU.

The benchmark runs hundreds of host agents with it, and the tests run the
real agent with it instead of mocks, so it behaves as the QEMU driver does
where the agent can tell: each operation takes ``boot_seconds``, states
change as QEMU's would (create and start → running, stop → shutoff, a
reboot needs a running VM, rebuild and resize keep the power state), an
operation on a VM that does not exist fails, and ``console_log`` is a file
with the guest's login prompt (``console_socket`` is where a test may play the
guest's serial port, ``vnc_socket`` its VNC server).  ``calls`` records every operation, and
:meth:`FakeDriver.fail_next` makes the next one of a kind fail.  What the QEMU
driver would load into nftables for the taps' security groups is rendered
(so a rule the translation refuses shows) and kept in ``filters``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from barecloud.hostagent import configdrive, firewall
from barecloud.hostagent.driver import Capacity, VmSpec, VmState
from barecloud.hostagent.firewall import PortRules

DEFAULT_CAPACITY = Capacity(vcpus=64, memory_mb=256 * 1024, disk_gb=2000)


class FakeError(Exception):
    """An operation the fake hypervisor refuses, or was told to fail."""


@dataclass
class FakeVm:
    spec: VmSpec
    state: VmState


class FakeDriver:
    hypervisor_type = "fake"
    hypervisor_version = 1000

    def __init__(self, capacity: Capacity = DEFAULT_CAPACITY, boot_seconds: float = 0.0,
                 state_dir: Path | None = None) -> None:
        self._capacity = capacity
        self.boot_seconds = boot_seconds
        self.vms: dict[str, FakeVm] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, VM uuid), in order
        self.busy = 0  # operations under way now, and the most there were at once
        self.max_busy = 0
        self._failures: dict[tuple[str, str], str] = {}
        self.filters: dict[str, PortRules] = {}  # tap -> rules, as last set
        self.filter_sets = 0  # filter_taps calls that changed something
        self._consoles: dict[str, list[str]] = {}
        self._dir = state_dir if state_dir is not None else Path(
            tempfile.mkdtemp(prefix="barecloud-fake-hv-"))

    # -- for tests -----------------------------------------------------------

    def fail_next(self, uuid: str, op: str, message: str = "injected failure") -> None:
        """Make the next ``op`` ("create", "stop", ...) on ``uuid`` raise FakeError."""
        self._failures[(op, uuid)] = message

    def count(self, op: str, uuid: str | None = None) -> int:
        return Counter(o for o, u in self.calls if uuid is None or u == uuid)[op]

    def crash(self, uuid: str) -> None:
        """What a QEMU that died leaves: the VM, crashed."""
        self._vm(uuid).state = VmState.CRASHED

    # -- the Driver interface ------------------------------------------------

    def capacity(self) -> Capacity:
        return self._capacity

    async def create(self, spec: VmSpec) -> None:
        await self._begin("create", spec.uuid)
        if spec.uuid in self.vms:
            raise FakeError(f"VM {spec.uuid} exists already")
        if not spec.image.is_file():
            raise FakeError(f"image {spec.image} is not a file")
        self.vms[spec.uuid] = FakeVm(spec, VmState.RUNNING)
        self._boot(spec.uuid)

    async def start(self, uuid: str) -> None:
        await self._begin("start", uuid)
        vm = self._vm(uuid)
        if vm.state != VmState.RUNNING:
            vm.state = VmState.RUNNING
            self._boot(uuid)

    async def stop(self, uuid: str, timeout: float = 30.0) -> None:
        await self._begin("stop", uuid)
        self._vm(uuid).state = VmState.SHUTOFF

    async def reboot(self, uuid: str, hard: bool) -> None:
        await self._begin("reboot", uuid)
        vm = self._vm(uuid)
        if vm.state not in (VmState.RUNNING, VmState.PAUSED):
            raise FakeError(f"VM {uuid} is {vm.state.value}: nothing to reboot")
        vm.state = VmState.RUNNING
        self._boot(uuid)

    async def rebuild(self, spec: VmSpec) -> None:
        await self._begin("rebuild", spec.uuid)
        vm = self._vm(spec.uuid)
        vm.spec = spec
        if vm.state == VmState.RUNNING:
            self._boot(spec.uuid)

    async def resize(self, spec: VmSpec) -> None:
        await self._begin("resize", spec.uuid)
        vm = self._vm(spec.uuid)
        if spec.disk_gb < vm.spec.disk_gb:
            raise FakeError(f"VM {spec.uuid}: a disk cannot shrink "
                            f"({vm.spec.disk_gb} GB to {spec.disk_gb} GB)")
        vm.spec = spec

    async def delete(self, uuid: str) -> None:
        await self._begin("delete", uuid)
        self.vms.pop(uuid, None)
        self._consoles.pop(uuid, None)
        (self._dir / f"{uuid}.console.log").unlink(missing_ok=True)

    async def states(self) -> dict[str, VmState]:
        return {uuid: vm.state for uuid, vm in self.vms.items()}

    def console_log(self, uuid: str) -> Path:
        """The VM's console log, written when asked for (not at each boot: a fleet
        boots thousands, and a file each is seconds of a shared event loop)."""
        path = self._dir / f"{uuid}.console.log"
        self._dir.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(self._consoles.get(uuid, ())), encoding="utf-8")
        return path

    def console_socket(self, uuid: str) -> Path:
        """Where the VM's serial console would listen: nothing does, unless a test
        serves a Unix socket there (it plays the guest)."""
        return self._dir / f"{uuid}.console.sock"

    def vnc_socket(self, uuid: str) -> Path:
        """Where the VM's VNC server would listen: nothing does, unless a test serves
        a Unix socket there (it plays QEMU's VNC server)."""
        return self._dir / f"{uuid}.vnc.sock"

    async def filter_taps(self, wanted: Mapping[str, PortRules]) -> None:
        if dict(wanted) == self.filters:
            return
        for index, (tap, rules) in enumerate(sorted(wanted.items()), start=1):
            firewall.render(tap, index, rules)  # what the QEMU driver would load
        self.filters = dict(wanted)
        self.filter_sets += 1

    async def close(self) -> None:
        return None

    # -- inside --------------------------------------------------------------

    async def _begin(self, op: str, uuid: str) -> None:
        self.calls.append((op, uuid))
        if self.boot_seconds:
            self.busy += 1
            self.max_busy = max(self.max_busy, self.busy)
            try:
                await asyncio.sleep(self.boot_seconds)
            finally:
                self.busy -= 1
        message = self._failures.pop((op, uuid), None)
        if message is not None:
            raise FakeError(f"{op} {uuid}: {message}")

    def _vm(self, uuid: str) -> FakeVm:
        vm = self.vms.get(uuid)
        if vm is None:
            raise FakeError(f"no VM {uuid}")
        return vm

    def _boot(self, uuid: str) -> None:
        spec = self.vms[uuid].spec
        name = configdrive.hostname(spec.config_drive, spec.name)
        lines = self._consoles.setdefault(uuid, [])
        lines.append(f"barecloud fake VM {uuid}: {spec.vcpus} vCPU, {spec.memory_mb} MB\n"
                     f"{name} login: \n")
        del lines[:-20]  # the last boots only
