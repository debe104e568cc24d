"""The IPMI commands a bare-metal cloud needs, and their data [20, 22, 28].

Get Device ID, Get Channel Authentication Capabilities, Get Channel Cipher
Suites, Set Session Privilege Level, Close Session, Chassis Get Status,
Chassis Control, Set/Get System Boot Options: numbers and data codecs,
shared by the client and the lab BMCs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from barecloud.wire.ipmi.crypto import CIPHER_SUITES
from barecloud.wire.ipmi.errors import IpmiProtocolError

# Network functions and commands (requests; a response's netfn is +1).
NETFN_CHASSIS = 0x00
NETFN_APP = 0x06

CMD_GET_CHASSIS_STATUS = 0x01
CMD_CHASSIS_CONTROL = 0x02
CMD_SET_SYSTEM_BOOT_OPTIONS = 0x08
CMD_GET_SYSTEM_BOOT_OPTIONS = 0x09

CMD_GET_DEVICE_ID = 0x01
CMD_GET_SELF_TEST_RESULTS = 0x04
CMD_GET_DEVICE_GUID = 0x08
CMD_GET_SYSTEM_GUID = 0x37
CMD_GET_CHANNEL_AUTH_CAPABILITIES = 0x38
CMD_SET_SESSION_PRIVILEGE_LEVEL = 0x3B
CMD_CLOSE_SESSION = 0x3C
CMD_GET_CHANNEL_CIPHER_SUITES = 0x54

BOOT_PARAM_SET_IN_PROGRESS = 0
BOOT_PARAM_FLAG_VALID_CLEARING = 3
BOOT_PARAM_INFO_ACK = 4
BOOT_PARAM_BOOT_FLAGS = 5


# --- commands ---------------------------------------------------------------


class PowerAction(enum.StrEnum):
    """Chassis Control actions [Table 28-4], named as ``ipmitool power`` names them."""

    OFF = "off"
    ON = "on"
    CYCLE = "cycle"
    RESET = "reset"  # hard reset
    DIAG = "diag"  # pulse a diagnostic interrupt (NMI)
    SOFT = "soft"  # ACPI soft shutdown: the OS is asked to power off

    @property
    def code(self) -> int:
        return _POWER_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> PowerAction:
        for action, c in _POWER_CODES.items():
            if c == code:
                return action
        raise ValueError(f"unknown chassis control code {code}")


_POWER_CODES = {
    PowerAction.OFF: 0,
    PowerAction.ON: 1,
    PowerAction.CYCLE: 2,
    PowerAction.RESET: 3,
    PowerAction.DIAG: 4,
    PowerAction.SOFT: 5,
}


@dataclass(frozen=True, slots=True)
class ChassisStatus:
    """Get Chassis Status [28.2]: byte 1 bit 0 is "system power is on"."""

    power_on: bool
    power_fault: bool = False
    restore_policy: int = 2  # 0 always off, 1 restore previous, 2 always on, 3 unknown
    last_event: int = 0
    misc: int = 0

    def encode(self) -> bytes:
        current = int(self.power_on) | int(self.power_fault) << 3 | (self.restore_policy & 3) << 5
        return bytes((current, self.last_event, self.misc))

    @classmethod
    def decode(cls, data: bytes) -> ChassisStatus:
        if len(data) < 3:
            raise IpmiProtocolError("Chassis Status response truncated")
        return cls(bool(data[0] & 1), bool(data[0] & 8), data[0] >> 5 & 3, data[1], data[2])


class BootDevice(enum.StrEnum):
    """Boot device selector of boot flags byte 2, bits 5:2 [Table 28-14]."""

    NONE = "none"  # no override: the firmware's own order
    PXE = "pxe"
    DISK = "disk"
    SAFE = "safe"  # disk, safe mode
    DIAG = "diag"
    CDROM = "cdrom"
    BIOS = "bios"  # firmware setup
    REMOTE_FLOPPY = "remote-floppy"
    REMOTE_CDROM = "remote-cdrom"
    REMOTE_MEDIA = "remote-media"
    REMOTE_DISK = "remote-disk"
    FLOPPY = "floppy"

    @property
    def code(self) -> int:
        return _BOOT_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> BootDevice:
        for device, c in _BOOT_CODES.items():
            if c == code:
                return device
        raise ValueError(f"unknown boot device selector {code}")


_BOOT_CODES = {
    BootDevice.NONE: 0x0,
    BootDevice.PXE: 0x1,
    BootDevice.DISK: 0x2,
    BootDevice.SAFE: 0x3,
    BootDevice.DIAG: 0x4,
    BootDevice.CDROM: 0x5,
    BootDevice.BIOS: 0x6,
    BootDevice.REMOTE_FLOPPY: 0x7,
    BootDevice.REMOTE_CDROM: 0x8,
    BootDevice.REMOTE_MEDIA: 0x9,
    BootDevice.REMOTE_DISK: 0xB,
    BootDevice.FLOPPY: 0xF,
}


@dataclass(frozen=True, slots=True)
class BootOptions:
    """Boot flags, boot option parameter 5 [Table 28-14].

    ``valid`` is the "boot flags valid" bit: when clear the firmware ignores
    the override.  ``persistent`` false means "next boot only".  ``uefi``
    is the BIOS boot type bit (EFI vs legacy PC compatible).  ``extra``
    keeps data bytes 3-5 (console redirection, verbosity, instance) as is.
    """

    device: BootDevice = BootDevice.NONE
    persistent: bool = False
    uefi: bool = False
    valid: bool = True
    extra: bytes = b"\x00\x00\x00"

    def encode(self) -> bytes:
        flags = self.valid << 7 | self.persistent << 6 | self.uefi << 5
        return bytes((flags, self.device.code << 2)) + self.extra[:3].ljust(3, b"\x00")

    @classmethod
    def decode(cls, data: bytes) -> BootOptions:
        if len(data) < 2:
            raise IpmiProtocolError("boot flags truncated")
        try:
            device = BootDevice.from_code(data[1] >> 2 & 0x0F)
        except ValueError as exc:
            raise IpmiProtocolError(str(exc)) from None
        return cls(
            device,
            bool(data[0] & 0x40),
            bool(data[0] & 0x20),
            bool(data[0] & 0x80),
            bytes(data[2:5]).ljust(3, b"\x00"),
        )


@dataclass(frozen=True, slots=True)
class DeviceId:
    """Get Device ID response data [20.1]."""

    device_id: int = 0x20
    revision: int = 1
    firmware_major: int = 1
    firmware_minor: int = 0  # shown as two BCD digits
    ipmi_version: int = 0x02  # BCD, low nibble major: 0x02 is "2.0"
    additional: int = 0x80  # bit 7: chassis device
    manufacturer_id: int = 0
    product_id: int = 0
    aux: bytes = b""
    available: bool = True
    provides_sdrs: bool = False

    def encode(self) -> bytes:
        minor = int(f"{self.firmware_minor % 100:02d}", 16)  # to BCD
        return (
            bytes(
                (
                    self.device_id,
                    self.provides_sdrs << 7 | (self.revision & 0x0F),
                    (not self.available) << 7 | (self.firmware_major & 0x7F),
                    minor,
                    self.ipmi_version,
                    self.additional,
                )
            )
            + self.manufacturer_id.to_bytes(3, "little")
            + self.product_id.to_bytes(2, "little")
            + self.aux[:4]
        )

    @classmethod
    def decode(cls, data: bytes) -> DeviceId:
        if len(data) < 11:
            raise IpmiProtocolError("Get Device ID response truncated")
        try:
            minor = int(f"{data[3]:x}")
        except ValueError:
            minor = data[3]
        return cls(
            device_id=data[0],
            revision=data[1] & 0x0F,
            firmware_major=data[2] & 0x7F,
            firmware_minor=minor,
            ipmi_version=data[4],
            additional=data[5],
            manufacturer_id=int.from_bytes(data[6:9], "little"),
            product_id=int.from_bytes(data[9:11], "little"),
            aux=bytes(data[11:15]),
            available=not data[2] & 0x80,
            provides_sdrs=bool(data[1] & 0x80),
        )


@dataclass(frozen=True, slots=True)
class ChannelAuthCapabilities:
    """Get Channel Authentication Capabilities response data [22.13]."""

    channel: int = 1
    auth_types: int = 0x80  # bit 7: IPMI v2.0 extended data; no v1.5 auth types
    status: int = 0x04  # bit 2: non-null user names enabled
    extended: int = 0x02  # bit 1: IPMI v2.0 (RMCP+) connections supported
    oem_id: int = 0
    oem_aux: int = 0

    @property
    def supports_ipmi20(self) -> bool:
        return bool(self.auth_types & 0x80 and self.extended & 0x02)

    def encode(self) -> bytes:
        return (
            bytes((self.channel, self.auth_types, self.status, self.extended))
            + self.oem_id.to_bytes(3, "little")
            + bytes((self.oem_aux,))
        )

    @classmethod
    def decode(cls, data: bytes) -> ChannelAuthCapabilities:
        if len(data) < 8:
            raise IpmiProtocolError("Get Channel Authentication Capabilities truncated")
        return cls(data[0], data[1], data[2], data[3], int.from_bytes(data[4:7], "little"), data[7])


def cipher_suite_records(suite_ids: list[int]) -> bytes:
    """Get Channel Cipher Suites record data: C0h, suite ID, auth, integrity, conf [22.15]."""
    out = b""
    for sid in suite_ids:
        s = CIPHER_SUITES[sid]
        out += bytes((0xC0, s.id, s.auth, 0x40 | s.integrity, 0x80 | s.confidentiality))
    return out
