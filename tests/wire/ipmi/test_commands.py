"""Command data codecs, byte for byte as ipmitool sends them."""

from __future__ import annotations

from barecloud.wire.ipmi.commands import (
    BootDevice,
    BootOptions,
)


def test_boot_flags_match_ipmitool_bytes() -> None:
    # "chassis bootdev disk options=persistent,efiboot" sends e008000000.
    opts = BootOptions.decode(bytes.fromhex("e008000000"))
    assert opts == BootOptions(BootDevice.DISK, persistent=True, uefi=True, valid=True)
    assert opts.encode() == bytes.fromhex("e008000000")
    assert BootOptions(BootDevice.PXE).encode() == bytes.fromhex("8004000000")
