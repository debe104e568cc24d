"""The ipxe boot interface: per-MAC iPXE scripts and dnsmasq host entries on disk."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from barecloud.conductor.engine import Conductor
from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.drivers import hardware, ipxe
from barecloud.drivers.base import NodeView, PortView
from barecloud.errors import InvalidParameter, PermanentDriverError

BASE = "http://10.9.0.1:6385"
UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
TOKEN = "tok-3x4mpl3-s3cr3t"


def node(*ports: tuple[str, bool], token: str | None = TOKEN) -> NodeView:
    return NodeView(
        uuid=UUID, name="n1", driver="ipmi", driver_info={}, driver_internal_info={},
        properties={}, instance_info={}, power_state="power off",
        provision_state="deploying", agent_token=token,
        ports=tuple(PortView(mac, pxe, {}) for mac, pxe in ports),
    )


@pytest.fixture
def boot(tmp_path: Path) -> ipxe.IpxeBoot:
    ipxe.configure(tmp_path, BASE + "/")
    return ipxe.IpxeBoot()


def expected_script() -> str:
    return (
        "#!ipxe\n"
        f"kernel {BASE}/boot/agent/kernel barecloud.api={BASE} barecloud.token={TOKEN} "
        f"barecloud.node={UUID} BOOTIF=01-${{mac:hexhyp}} console=ttyS0\n"
        f"initrd {BASE}/boot/agent/ramdisk\n"
        "boot\n"
    )


async def test_prepare_ramdisk_writes_a_script_per_pxe_port_and_a_host_entry(
    boot: ipxe.IpxeBoot, tmp_path: Path,
) -> None:
    n = node(("52:54:00:AA:00:01", True), ("52:54:00:aa:00:02", False),
             ("52-54-00-aa-00-03", True))
    await boot.prepare_ramdisk(n)
    scripts = tmp_path / "boot" / "nodes"
    assert sorted(p.name for p in scripts.iterdir()) == [
        "52-54-00-aa-00-01.ipxe", "52-54-00-aa-00-03.ipxe",
    ]
    for path in scripts.iterdir():
        assert path.read_text() == expected_script()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it carries the token
    host = tmp_path / "dnsmasq" / "hosts" / UUID
    assert host.read_text() == (
        "52:54:00:aa:00:01,set:barecloud\n52:54:00:aa:00:03,set:barecloud\n"
    )


async def test_every_port_boots_when_none_is_flagged(
    boot: ipxe.IpxeBoot, tmp_path: Path,
) -> None:
    await boot.prepare_ramdisk(node(("52:54:00:aa:00:01", False), ("52:54:00:aa:00:02", False)))
    assert len(list((tmp_path / "boot" / "nodes").iterdir())) == 2
    assert (tmp_path / "dnsmasq" / "hosts" / UUID).read_text().count("set:barecloud") == 2


async def test_no_ports_is_refused_with_a_clear_message(
    boot: ipxe.IpxeBoot, tmp_path: Path,
) -> None:
    with pytest.raises(InvalidParameter, match="has no ports"):
        boot.validate(node())
    with pytest.raises(InvalidParameter, match="at least one port"):
        await boot.prepare_ramdisk(node())
    assert not (tmp_path / "boot").exists()
    boot.validate(node(("52:54:00:aa:00:01", False)))  # one port is enough


async def test_a_port_that_is_not_a_mac_is_refused(boot: ipxe.IpxeBoot) -> None:
    with pytest.raises(InvalidParameter, match="not a MAC address"):
        boot.validate(node(("52:54:00:aa:00:01/../../x", True)))


async def test_no_agent_token_writes_nothing(boot: ipxe.IpxeBoot, tmp_path: Path) -> None:
    with pytest.raises(PermanentDriverError, match="no agent token"):
        await boot.prepare_ramdisk(node(("52:54:00:aa:00:01", True), token=None))
    assert not (tmp_path / "boot").exists()


async def test_clean_up_removes_scripts_and_makes_dnsmasq_ignore_the_macs(
    boot: ipxe.IpxeBoot, tmp_path: Path,
) -> None:
    n = node(("52:54:00:aa:00:01", True), ("52:54:00:aa:00:02", True))
    await boot.prepare_ramdisk(n)
    await boot.clean_up_ramdisk(n)
    assert list((tmp_path / "boot" / "nodes").iterdir()) == []
    # dnsmasq never forgets a deleted host file, but obeys a newer record.
    host = tmp_path / "dnsmasq" / "hosts" / UUID
    assert host.read_text() == "52:54:00:aa:00:01,ignore\n52:54:00:aa:00:02,ignore\n"
    await boot.clean_up_ramdisk(n)  # idempotent
    assert host.read_text() == "52:54:00:aa:00:01,ignore\n52:54:00:aa:00:02,ignore\n"


async def test_clean_up_also_removes_scripts_of_ports_deleted_since(
    boot: ipxe.IpxeBoot, tmp_path: Path,
) -> None:
    await boot.prepare_ramdisk(node(("52:54:00:aa:00:01", True), ("52:54:00:aa:00:02", True)))
    await boot.clean_up_instance(node(("52:54:00:aa:00:01", True)))
    assert list((tmp_path / "boot" / "nodes").iterdir()) == []
    assert "52:54:00:aa:00:02,ignore" in (tmp_path / "dnsmasq" / "hosts" / UUID).read_text()


async def test_preparing_again_releases_a_mac_that_no_longer_boots(
    boot: ipxe.IpxeBoot, tmp_path: Path,
) -> None:
    await boot.prepare_ramdisk(node(("52:54:00:aa:00:01", True), ("52:54:00:aa:00:02", True)))
    await boot.prepare_ramdisk(node(("52:54:00:aa:00:01", True), ("52:54:00:aa:00:02", False)))
    assert (tmp_path / "dnsmasq" / "hosts" / UUID).read_text() == (
        "52:54:00:aa:00:01,set:barecloud\n52:54:00:aa:00:02,ignore\n"
    )
    assert [p.name for p in (tmp_path / "boot" / "nodes").iterdir()] == [
        "52-54-00-aa-00-01.ipxe"
    ]


def test_prepare_instance_writes_nothing(boot: ipxe.IpxeBoot, tmp_path: Path) -> None:
    asyncio.run(boot.prepare_instance(node(("52:54:00:aa:00:01", True))))
    assert list(tmp_path.iterdir()) == []


def test_compact_hosts_drops_what_a_fresh_dnsmasq_does_not_need(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    (hosts / "released").write_text("52:54:00:aa:00:01,ignore\n")
    (hosts / "mixed").write_text("52:54:00:aa:00:02,set:barecloud\n52:54:00:aa:00:03,ignore\n")
    (hosts / ".mixed.tmp123").write_text("half a fi")
    ipxe.compact_hosts(hosts)
    assert sorted(p.name for p in hosts.iterdir()) == ["mixed"]
    assert (hosts / "mixed").read_text() == "52:54:00:aa:00:02,set:barecloud\n"


def test_ipmi_and_redfish_boot_with_ipxe_by_default() -> None:
    for name in ("ipmi", "redfish"):
        hw = hardware.hardware_type(name)
        assert hw.supported["boot"] == ("ipxe", "fake")
        assert hw.default("deploy") == "agent"
        assert hw.check("boot", "ipxe") == "ipxe"
    assert isinstance(hardware.interface("boot", "ipxe"), ipxe.IpxeBoot)
    # fake-hardware may boot with ipxe too (a test plays the machine), as in Ironic.
    assert hardware.hardware_type("fake-hardware").default("boot") == "fake"
    assert hardware.hardware_type("fake-hardware").check("boot", "ipxe") == "ipxe"
    with pytest.raises(InvalidParameter):
        hardware.hardware_type("fake-hardware").check("boot", "pxe")


async def test_the_conductor_configures_where_boot_files_go(tmp_path: Path) -> None:
    ipxe.configure(tmp_path / "elsewhere", "http://other")
    settings = Settings(data_dir=tmp_path / "data", public_url="http://10.1.2.3:6385/")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        Conductor(db, settings)
    finally:
        await db.dispose()
    assert ipxe.files() == ipxe.BootFiles((tmp_path / "data").resolve(), "http://10.1.2.3:6385")
