"""The QEMU driver: its command line (fast), and real VMs of barecloud-tiny under TCG (slow).

The slow tests build the image with scripts/build-vm-image (idempotent: a
few seconds when it is built) and boot it; each VM is deleted afterwards,
and the network tests remove their namespace and dnsmasq.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
import uuid as uuid_module
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from barecloud.hostagent.driver import Capacity, Nic, VmSpec, VmState
from barecloud.hostagent.qemu import DriverError, QemuDriver, VmNotFound, qemu_version
from barecloud.services.network import dhcp

REPO = Path(__file__).resolve().parents[2]
QEMU = "qemu-system-x86_64"
BOOT_DEADLINE = 60.0  # TCG on a shared 2-core machine: generous; boots take ~6 s alone
GiB = 2**30


def spec(image: Path, *, name: str = "vm-one", key: str = "", uuid: str | None = None,
         vcpus: int = 1, memory_mb: int = 256, disk_gb: int = 1,
         nics: tuple[Nic, ...] = (), image_format: str = "raw") -> VmSpec:
    vm_uuid = uuid or str(uuid_module.uuid4())
    meta = {"uuid": vm_uuid, "name": name, "hostname": name,
            "public_keys": {"k": key} if key else {},
            "keys": [{"name": "k", "type": "ssh", "data": key}] if key else []}
    return VmSpec(uuid=vm_uuid, name=name, vcpus=vcpus, memory_mb=memory_mb, disk_gb=disk_gb,
                  image=image, image_format=image_format,
                  config_drive={"openstack/latest/meta_data.json": json.dumps(meta).encode()},
                  nics=nics)


# -- fast: no VM ---------------------------------------------------------------


def test_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BARECLOUD_HOSTAGENT_ACCEL", raising=False)
    image = tmp_path / "base.raw"
    image.write_bytes(b"")
    driver = QemuDriver(tmp_path / "state", capacity=Capacity(4, 4096, 100))
    s = spec(image, vcpus=2, memory_mb=512,
             nics=(Nic(mac="52:54:00:AA:BB:01", tap="tap-one", bridge="br0", mtu=1450),))
    cmd = driver.command(s)
    line = " ".join(cmd)
    vm = tmp_path / "state" / "vms" / s.uuid
    assert cmd[0] == QEMU
    assert cmd[cmd.index("-accel") + 1] == "tcg"
    assert cmd[cmd.index("-uuid") + 1] == s.uuid
    assert cmd[cmd.index("-smp") + 1] == "2"
    assert cmd[cmd.index("-m") + 1] == "512M"
    assert cmd[cmd.index("-pidfile") + 1] == str(vm / "qemu.pid")
    assert "-daemonize" in cmd and "-nodefaults" in cmd and "-no-shutdown" not in cmd
    assert f"file={vm / 'disk.qcow2'},if=none,id=disk0,format=qcow2" in line
    assert "media=cdrom" in line and f"file={vm / 'config.iso'}" in line
    assert "ide-cd,drive=cd0" in line
    assert f"logfile={vm / 'console.log'},logappend=on" in line
    assert "-serial chardev:serial0" in line
    assert "-qmp unix:qmp.sock,server=on,wait=off" in line
    assert "tap,id=net0,ifname=tap-one,script=no,downscript=no,vnet_hdr=off" in line
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:01,host_mtu=1450" in line
    # VNC on a socket of the VM's directory (no TCP port), of a VGA display added
    # last (the devices before it keep their PCI slots); no window.
    assert "-vnc unix:vnc.sock" in line and "-display none" in line
    assert cmd[-2:] == ["-device", "VGA"]
    assert driver.vnc_socket(s.uuid) == vm / "vnc.sock"
    assert driver.capacity() == Capacity(4, 4096, 100)
    monkeypatch.setenv("BARECLOUD_HOSTAGENT_ACCEL", "kvm")
    kvm = QemuDriver(tmp_path / "state")
    assert kvm.command(s)[kvm.command(s).index("-accel") + 1] == "kvm"
    assert QemuDriver(tmp_path / "state", accel="tcg").accel == "tcg"


def test_commas_in_paths_are_escaped(tmp_path: Path) -> None:
    driver = QemuDriver(tmp_path / "a,b")
    cmd = driver.command(spec(tmp_path, name="x,y"))
    assert "guest=x,,y," in " ".join(cmd)
    lists = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("-drive", "-chardev")]
    assert len(lists) == 3
    assert all("a,,b" in v and "a,b/" not in v for v in lists)
    assert "a,b/" in cmd[cmd.index("-pidfile") + 1]  # a plain argument, not a list


def test_bad_specs_are_refused(tmp_path: Path) -> None:
    image = tmp_path / "base.raw"
    image.write_bytes(b"")
    driver = QemuDriver(tmp_path / "state")
    bad = [
        spec(image, uuid="../../etc"),
        spec(tmp_path / "no-such-image"),
        spec(image, nics=(Nic(mac="52:54:00:00:00:01", tap="a-tap-name-too-long",
                              bridge=None),)),
        spec(image, nics=(Nic(mac="52:54:00:00:00:1", tap="tap0", bridge=None),)),
        spec(image, nics=(Nic(mac="52:54:00:00:00:01", tap="tap0", bridge="br;rm"),)),
        spec(image, vcpus=0),
    ]
    bad.append(VmSpec(**{**bad[-1].__dict__, "vcpus": 1, "image_format": "vmdk"}))
    for s in bad:
        with pytest.raises(DriverError):
            asyncio.run(driver.create(s))
    assert list((tmp_path / "state" / "vms").iterdir()) == []


async def test_unknown_vms(tmp_path: Path) -> None:
    driver = QemuDriver(tmp_path / "state")
    assert await driver.states() == {}
    await driver.delete(str(uuid_module.uuid4()))  # idempotent: nothing to do
    with pytest.raises(VmNotFound):
        await driver.start(str(uuid_module.uuid4()))
    with pytest.raises(VmNotFound):
        await driver.stop(str(uuid_module.uuid4()))


async def test_qemu_that_does_not_start(tmp_path: Path) -> None:
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    image = tmp_path / "base.raw"
    image.write_bytes(bytes(2**20))
    fake = tmp_path / "qemu"
    fake.write_text("#!/bin/sh\necho 'qemu: could not open disk image: boom' >&2\nexit 1\n")
    fake.chmod(0o755)
    driver = QemuDriver(tmp_path / "state", qemu=str(fake))
    s = spec(image)
    with pytest.raises(DriverError, match="boom"):
        await driver.create(s)
    # The files are made (a create retried later starts it); the VM is SHUTOFF.
    assert await driver.states() == {s.uuid: VmState.SHUTOFF}
    assert qemu_img_size(tmp_path / "state" / "vms" / s.uuid / "disk.qcow2") == GiB
    await driver.delete(s.uuid)
    assert await driver.states() == {}


def test_capacity_and_version_of_the_host(tmp_path: Path) -> None:
    driver = QemuDriver(tmp_path)
    cap = driver.capacity()
    assert cap.vcpus == os.cpu_count()
    assert 0 < cap.memory_mb < 2**24
    assert cap.disk_gb == shutil.disk_usage(tmp_path).free // GiB
    if shutil.which(QEMU) is None:
        assert driver.hypervisor_version == 0
        return
    out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    major, minor, micro = map(int, re.search(r"version (\d+)\.(\d+)\.(\d+)", out).groups())  # type: ignore[union-attr]
    assert driver.hypervisor_version == major * 1_000_000 + minor * 1000 + micro
    assert driver.hypervisor_type == "QEMU"
    assert qemu_version("/nonexistent/qemu") == 0


# -- slow: real VMs ------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_image() -> Path:
    if shutil.which(QEMU) is None:
        pytest.skip(f"{QEMU} is not installed")
    subprocess.run([str(REPO / "scripts" / "build-vm-image")], check=True, timeout=900)
    image = REPO / ".cache" / "vm-image" / "barecloud-tiny.raw"
    assert image.stat().st_size < 40 * 2**20
    return image


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test@x",
                    "-f", str(path)], check=True)
    return path, path.with_suffix(".pub").read_text().strip()


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[QemuDriver]:
    d = QemuDriver(tmp_path / "state")
    try:
        yield d
    finally:
        for vm in await d.states():
            await d.delete(vm)
        await d.close()


async def wait_console(driver: QemuDriver, uuid: str, pattern: str, *, count: int = 1,
                       deadline: float = BOOT_DEADLINE) -> float:
    """Seconds until ``pattern`` shows ``count`` times in the console log."""
    started = time.monotonic()
    while True:
        try:
            text = console(driver, uuid)
        except FileNotFoundError:
            text = ""
        if len(re.findall(pattern, text)) >= count:
            return time.monotonic() - started
        if time.monotonic() - started > deadline:
            raise AssertionError(f"no {count} x {pattern!r} on the console in {deadline} s:\n"
                                 f"{text[-3000:]}")
        await asyncio.sleep(0.2)


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def qemu_img_size(path: Path) -> int:
    return int(json.loads(sh("qemu-img", "info", "-U", "--output=json", str(path)).stdout)[
        "virtual-size"])


def console(driver: QemuDriver, uuid: str) -> str:
    return driver.console_log(uuid).read_text(errors="replace")


def runs(pid: int, uuid: str) -> bool:
    """That PID is a live process started for that VM."""
    try:
        return uuid in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return False


def files_of(path: Path) -> set[str]:
    return {p.name for p in path.iterdir()} if path.exists() else set()


@pytest.mark.slow
async def test_create_boot_restart_delete(driver: QemuDriver, tiny_image: Path,
                                          ssh_key: tuple[Path, str], tmp_path: Path) -> None:
    s = spec(tiny_image, key=ssh_key[1])
    await driver.create(s)
    took = await wait_console(driver, s.uuid, r"barecloud-vm: hostname vm-one\b")
    print(f"create -> hostname on the console: {took:.1f} s")
    text = console(driver, s.uuid)
    assert "barecloud-vm: ssh key ssh-ed25519 test@x" in text
    assert f"barecloud-vm: uuid {s.uuid}" in text
    await wait_console(driver, s.uuid, r"vm-one login:")
    vm = tmp_path / "state" / "vms" / s.uuid
    assert {"disk.qcow2", "config.iso", "spec.json", "console.log", "qemu.pid"} <= files_of(vm)
    assert qemu_img_size(vm / "disk.qcow2") == 1 * GiB
    pid = driver.pid(s.uuid)
    assert pid is not None and runs(pid, s.uuid)
    assert await driver.states() == {s.uuid: VmState.RUNNING}
    await driver.create(s)  # a retried create: nothing new
    assert driver.pid(s.uuid) == pid

    # The agent restarts: the VM keeps running and the new driver finds it.
    await driver.close()
    again = QemuDriver(tmp_path / "state")
    try:
        assert await again.states() == {s.uuid: VmState.RUNNING}
        assert again.pid(s.uuid) == pid
        await again.delete(s.uuid)
        assert files_of(vm) == set()
        assert not runs(pid, s.uuid)
        assert await again.states() == {}
        await again.delete(s.uuid)  # idempotent
    finally:
        await again.close()


@pytest.mark.slow
async def test_stop_start_reboot(driver: QemuDriver, tiny_image: Path) -> None:
    s = spec(tiny_image, name="vm-two")
    await driver.create(s)
    await wait_console(driver, s.uuid, r"vm-two login:")
    pid = driver.pid(s.uuid)
    assert pid is not None

    started = time.monotonic()
    await driver.stop(s.uuid, timeout=30)
    print(f"stop (ACPI powerdown): {time.monotonic() - started:.1f} s")
    assert time.monotonic() - started < 25, "the guest should power off, not be quit"
    assert "power button: powering off" in console(driver, s.uuid)
    assert driver.pid(s.uuid) is None
    assert not runs(pid, s.uuid)
    assert await driver.states() == {s.uuid: VmState.SHUTOFF}
    await driver.stop(s.uuid)  # stopping a stopped VM: nothing

    await driver.start(s.uuid)
    assert await driver.states() == {s.uuid: VmState.RUNNING}
    assert driver.pid(s.uuid) not in (None, pid)
    await wait_console(driver, s.uuid, r"barecloud-vm: booting", count=2)
    await wait_console(driver, s.uuid, r"vm-two login:", count=2)

    await driver.execute(s.uuid, "stop")
    assert await driver.states() == {s.uuid: VmState.PAUSED}
    await driver.execute(s.uuid, "cont")
    assert await driver.states() == {s.uuid: VmState.RUNNING}

    pid = driver.pid(s.uuid)
    await driver.reboot(s.uuid, hard=True)
    await wait_console(driver, s.uuid, r"barecloud-vm: hostname vm-two", count=3)
    assert driver.pid(s.uuid) == pid  # a reset, not a new QEMU

    await wait_console(driver, s.uuid, r"vm-two login:", count=3)
    await driver.reboot(s.uuid, hard=False)
    await wait_console(driver, s.uuid, r"barecloud-vm: hostname vm-two", count=4)
    assert "power button: powering off" in console(driver, s.uuid)
    assert await driver.states() == {s.uuid: VmState.RUNNING}


@pytest.mark.slow
async def test_resize_and_rebuild(driver: QemuDriver, tiny_image: Path, tmp_path: Path) -> None:
    s = spec(tiny_image, name="vm-three")
    await driver.create(s)
    await wait_console(driver, s.uuid, r"vm-three login:")
    disk = tmp_path / "state" / "vms" / s.uuid / "disk.qcow2"
    assert qemu_img_size(disk) == 1 * GiB

    bigger = VmSpec(**{**s.__dict__, "vcpus": 2, "memory_mb": 384, "disk_gb": 3})
    await driver.resize(bigger)
    assert qemu_img_size(disk) == 3 * GiB
    pid = driver.pid(s.uuid)
    assert pid is not None
    cmdline = Path(f"/proc/{pid}/cmdline").read_text().split("\0")  # noqa: ASYNC240
    assert cmdline[cmdline.index("-smp") + 1] == "2"
    assert cmdline[cmdline.index("-m") + 1] == "384M"
    await wait_console(driver, s.uuid, r"vm-three login:", count=2)
    assert await driver.states() == {s.uuid: VmState.RUNNING}
    with pytest.raises(DriverError, match="shrink"):
        await driver.resize(s)
    assert qemu_img_size(disk) == 3 * GiB

    # Rebuild (of a stopped VM, whose disk holds a write): a fresh disk on
    # another image (the same system, as qcow2), a new config drive, running.
    await driver.stop(s.uuid)
    sh("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 512M 1M", str(disk))
    rebuilt = spec(tiny_image.with_suffix(".qcow2"), image_format="qcow2", name="vm-rebuilt",
                   uuid=s.uuid, disk_gb=3)
    await driver.rebuild(rebuilt)
    await wait_console(driver, s.uuid, r"barecloud-vm: hostname vm-rebuilt")
    out = sh("qemu-img", "map", "-U", "--output=json", str(disk)).stdout
    allocated = [m for m in json.loads(out) if m.get("data") and m.get("depth") == 0]
    assert allocated == [], "the rebuilt disk is a new overlay, without the old writes"
    assert qemu_img_size(disk) == 3 * GiB
    info = json.loads(sh("qemu-img", "info", "-U", "--output=json", str(disk)).stdout)
    assert info["backing-filename-format"] == "qcow2"
    assert info["full-backing-filename"] == str(tiny_image.with_suffix(".qcow2"))
    assert await driver.states() == {s.uuid: VmState.RUNNING}


@pytest.mark.slow
async def test_four_at_once(driver: QemuDriver, tiny_image: Path) -> None:
    specs = [spec(tiny_image, name=f"vm-four-{i}") for i in range(4)]
    started = time.monotonic()
    await asyncio.gather(*(driver.create(s) for s in specs))
    created = time.monotonic() - started
    took = await asyncio.gather(*(
        wait_console(driver, s.uuid, rf"barecloud-vm: hostname {s.name}\b",
                     deadline=2 * BOOT_DEADLINE) for s in specs))
    print(f"4 at once: created in {created:.1f} s; create -> hostname: "
          + ", ".join(f"{created + t:.1f}" for t in took) + " s")
    assert await driver.states() == {s.uuid: VmState.RUNNING for s in specs}
    assert len({driver.pid(s.uuid) for s in specs}) == 4


# -- slow: a VM on a network -------------------------------------------------------


def end_lan(name: str, dnsmasq: subprocess.Popen[bytes] | None) -> None:
    """Our dnsmasq (``ip netns exec`` execs it: the PID is dnsmasq's), then the namespace."""
    if dnsmasq is not None:
        dnsmasq.kill()
        dnsmasq.wait()
    sh("ip", "netns", "del", name, check=False)


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[str]:
    """A network namespace (unique name) with bridge br0 at 10.213.7.1/24 and dnsmasq
    serving DHCP on it; all gone afterwards."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq is not installed")
    name = f"bcq-{os.getpid()}-{uuid_module.uuid4().hex[:6]}"
    sh("ip", "netns", "add", name)
    dnsmasq = None
    try:
        for cmd in (["link", "set", "lo", "up"], ["link", "add", "br0", "type", "bridge"],
                    ["addr", "add", "10.213.7.1/24", "dev", "br0"],
                    ["link", "set", "br0", "up"]):
            sh("ip", "-n", name, *cmd)
        dnsmasq = subprocess.Popen(
            ["ip", "netns", "exec", name, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
             "--port=0", "--interface=br0", "--bind-interfaces", "--no-ping",
             "--dhcp-range=10.213.7.50,10.213.7.99,255.255.255.0,1h",
             f"--dhcp-leasefile={tmp_path / 'leases'}", "--pid-file="],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield name
    finally:
        end_lan(name, dnsmasq)


@pytest.mark.slow
async def test_network_dhcp_and_ssh(tmp_path: Path, tiny_image: Path, lan: str,
                                    ssh_key: tuple[Path, str]) -> None:
    driver = QemuDriver(tmp_path / "state", netns=lan)
    tap = f"bcq{uuid_module.uuid4().hex[:8]}"
    s = spec(tiny_image, name="vm-net", key=ssh_key[1],
             nics=(Nic(mac="52:54:00:12:34:56", tap=tap, bridge="br0", mtu=1500),))
    try:
        await driver.create(s)
        assert "master br0" in sh("ip", "-n", lan, "-o", "link", "show", "dev", tap).stdout
        await wait_console(driver, s.uuid, r"barecloud-vm: address 10\.213\.7\.\d+/24 on eth0")
        found = re.search(r"address (10\.213\.7\.\d+)/24", console(driver, s.uuid))
        assert found is not None
        await wait_console(driver, s.uuid, r"vm-net login:")
        ssh = ["ip", "netns", "exec", lan, "ssh", "-i", str(ssh_key[0]),
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", f"root@{found.group(1)}",
               "hostname; cat /proc/cmdline"]
        done = await asyncio.to_thread(subprocess.run, ssh, capture_output=True, text=True,
                                       timeout=90)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == "vm-net"
        assert "console=ttyS0" in done.stdout
        await driver.delete(s.uuid)
        assert sh("ip", "-n", lan, "link", "show", "dev", tap, check=False).returncode != 0, \
            "the tap is deleted with the VM"
    finally:
        for vm in await driver.states():
            await driver.delete(vm)
        await driver.close()


# -- slow: a VM on an IPv6 subnet ------------------------------------------------

V6_MAC = "52:54:00:12:34:66"
V6_PREFIX = "2001:db8:31::"


def v6_spec(mode: str) -> dhcp.NetworkSpec:
    """A dual-stack network as services/network/dhcp.py sees it, its DHCP port
    at .2 of each subnet, the VM's port at .5 (and ::5, served when stateful)."""
    return dhcp.NetworkSpec(
        network_id="n-v6", port_id="vmv6port000", mac="52:54:00:00:00:02",
        addresses=("10.213.8.2/24", f"{V6_PREFIX}2/64"),
        subnets=(dhcp.SubnetSpec(id="s4", cidr="10.213.8.0/24", gateway_ip=None),
                 dhcp.SubnetSpec(id="s6", cidr=f"{V6_PREFIX}/64", gateway_ip=None,
                                 dns_nameservers=(f"{V6_PREFIX}53",),
                                 ipv6_ra_mode=mode, ipv6_address_mode=mode)),
        hosts=((V6_MAC, "10.213.8.5", "vm-six"), (V6_MAC, f"{V6_PREFIX}5", "vm-six")))


@pytest.fixture
def v6_lan(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace whose bridge (named as the DHCP port's interface) holds the
    DHCP port's addresses and a dnsmasq run on the very lines dhcp.py writes
    for the subnet's mode (``request.param``); all gone afterwards."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not Path(dhcp.DNSMASQ).exists():
        pytest.skip("dnsmasq is not installed")
    spec = v6_spec(request.param)
    name = f"bcq6-{os.getpid()}-{uuid_module.uuid4().hex[:6]}"
    sh("ip", "netns", "add", name)
    dnsmasq = None
    try:
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", spec.ifname, "type", "bridge"],
                    *[["addr", "add", a, "dev", spec.ifname, *(["nodad"] if ":" in a else [])]
                      for a in spec.addresses],
                    ["link", "set", spec.ifname, "up"]):
            sh("ip", "-n", name, *cmd)
        # No duplicate detection on the bridge's link-local address: the first
        # advertisements would leave from the global one, which hosts ignore.
        sh("ip", "netns", "exec", name, "sysctl", "-qw",
           f"net.ipv6.conf.{spec.ifname}.accept_dad=0")
        (tmp_path / "host").write_text(dhcp.hosts_file(spec))
        conf = tmp_path / "dnsmasq.conf"
        conf.write_text(dhcp.config(spec, tmp_path))
        with (tmp_path / "dnsmasq.log").open("ab") as log:
            dnsmasq = subprocess.Popen(
                ["ip", "netns", "exec", name, dhcp.DNSMASQ, f"--conf-file={conf}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        yield name
    finally:
        end_lan(name, dnsmasq)


def address6_lines(text: str) -> list[str]:
    return re.findall(r"barecloud-vm: address6 (\S+) on eth0", text)


EUI64 = str(ipaddress.IPv6Address(f"{V6_PREFIX}5054:ff:fe12:3466"))  # V6_MAC's SLAAC address


@pytest.mark.slow
@pytest.mark.parametrize(("v6_lan", "address6", "dhcpv6"), [
    ("dhcpv6-stateful", f"{V6_PREFIX}5/128", "DHCPREPLY"),
    ("dhcpv6-stateless", f"{EUI64}/64", "DHCPINFORMATION-REQUEST"),
    ("slaac", f"{EUI64}/64", None),
], indirect=["v6_lan"])
async def test_the_vm_takes_its_ipv6_address_by_the_subnets_mode(
        tmp_path: Path, tiny_image: Path, v6_lan: str, address6: str,
        dhcpv6: str | None) -> None:
    """dhcpcd in the image follows the advertisement's flags: M, DHCPv6 gives
    the port's address, a /128 (the prefix is on-link, not autonomous: no SLAAC
    address); O alone, SLAAC and an information-request; neither, SLAAC only.
    IPv4 is udhcpc's as before."""
    driver = QemuDriver(tmp_path / "state", netns=v6_lan)
    s = spec(tiny_image, name="vm-six", nics=(Nic(
        mac=V6_MAC, tap=f"bcq{uuid_module.uuid4().hex[:8]}",
        bridge=v6_spec("slaac").ifname, mtu=1500),))
    try:
        await driver.create(s)
        took = await wait_console(driver, s.uuid, r"barecloud-vm: address6 \S+ on eth0",
                                  deadline=120)
        print(f"create -> address6 on the console: {took:.1f} s")
        await wait_console(driver, s.uuid, r"barecloud-vm: address 10\.213\.8\.5/24 on eth0")
        await wait_console(driver, s.uuid, r"vm-six login:")
        await asyncio.sleep(5)  # a little longer: no other address comes
        text = console(driver, s.uuid)
        assert address6_lines(text) == [address6], text[-3000:]
        log = (tmp_path / "dnsmasq.log").read_text()
        if dhcpv6 is None:
            assert "DHCPSOLICIT" not in log and "DHCPINFORMATION" not in log, log
        else:
            assert dhcpv6 in log, log
    finally:
        for vm in await driver.states():
            await driver.delete(vm)
        await driver.close()
