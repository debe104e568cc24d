"""A machine's IPMI 2.0 (lanplus) BMC, on :mod:`barecloud.wire.ipmi.server`.

The wire library speaks the protocol; this module plugs a lab machine in
behind it and adds the faults, which act below the protocol, on the
datagrams: ``unreachable`` drops every packet (the console times out, as
with a BMC off the network, rather than getting "port unreachable"),
``slow`` answers each packet late, ``bad-credentials`` swaps the user's
password and forgets open sessions (a pooled client must log in again and
be refused).  ``ignore-power`` is the machine's business (machine.py).
Serial-over-LAN reaches the machine's serial port (lab/serial.py), which
lives in this same process.

IPMI has fewer boot devices than Redfish; the translation keeps the
meaning (remote disk is a disk, HTTP boot is a network boot).
"""

from __future__ import annotations

import asyncio
import uuid

from barecloud.lab.layout import HOST
from barecloud.lab.machine import Machine
from barecloud.lab.serial import SerialPort as MachineSerialPort
from barecloud.wire.ipmi.commands import BootDevice, BootOptions, PowerAction
from barecloud.wire.ipmi.handlers import Address, BmcHandler
from barecloud.wire.ipmi.server import Bmc, BmcServer
from barecloud.wire.ipmi.sol import SerialPort

_ACTIONS = {
    PowerAction.ON: "on",
    PowerAction.OFF: "off",
    PowerAction.SOFT: "soft",
    PowerAction.RESET: "reset",
    PowerAction.CYCLE: "cycle",
    PowerAction.DIAG: "nmi",
}
_FROM_IPMI = {
    BootDevice.NONE: "none",
    BootDevice.PXE: "pxe",
    BootDevice.DISK: "disk",
    BootDevice.SAFE: "disk",
    BootDevice.REMOTE_DISK: "disk",
    BootDevice.CDROM: "cd",
    BootDevice.REMOTE_CDROM: "cd",
    BootDevice.REMOTE_MEDIA: "usb",
    BootDevice.BIOS: "bios",
    BootDevice.DIAG: "diags",
    BootDevice.FLOPPY: "floppy",
    BootDevice.REMOTE_FLOPPY: "floppy",
}
_TO_IPMI = {
    "none": BootDevice.NONE,
    "pxe": BootDevice.PXE,
    "http": BootDevice.PXE,
    "disk": BootDevice.DISK,
    "cd": BootDevice.CDROM,
    "usb": BootDevice.REMOTE_MEDIA,
    "bios": BootDevice.BIOS,
    "diags": BootDevice.DIAG,
    "floppy": BootDevice.FLOPPY,
}


class MachineHandler(BmcHandler):
    """What the BMC's chassis commands do: act on the lab machine."""

    def __init__(self, machine: Machine) -> None:
        super().__init__(power_on=machine.power_on, guid=uuid.UUID(machine.uuid))
        self.machine = machine

    def power_state(self) -> bool:
        return self.machine.power_read()

    def serial_port(self) -> SerialPort | None:
        """The machine's own serial port (lab/serial.py): SOL reaches it in-process."""
        port = self.machine.serial
        return port if isinstance(port, MachineSerialPort) else None

    def chassis_control(self, action: PowerAction) -> None:
        self.machine.power(_ACTIONS[action], "ipmi")

    def boot_options(self) -> BootOptions:
        boot = self.machine.boot
        return BootOptions(
            _TO_IPMI[boot.device],
            persistent=boot.enabled == "continuous",
            uefi=boot.mode == "uefi",
            valid=boot.enabled != "disabled",
        )

    def set_boot_options(self, options: BootOptions) -> None:
        if not options.valid:
            self.machine.set_boot(enabled="disabled")
            return
        self.machine.set_boot(
            _FROM_IPMI[options.device],
            "continuous" if options.persistent else "once",
            "uefi" if options.uefi else "bios",
        )


class MachineBmc(Bmc):
    """One machine's BMC, with the machine's faults applied to its datagrams."""

    def __init__(self, server: BmcServer, machine: Machine) -> None:
        super().__init__(server, MachineHandler(machine), {machine.username: machine.bmc_password})
        self.machine = machine

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if self.machine.unreachable:
            return
        delay = self.machine.delay
        if delay > 0:
            answer = super().datagram_received
            asyncio.get_running_loop().call_later(delay, answer, data, addr)
        else:
            super().datagram_received(data, addr)

    def credentials_changed(self) -> None:
        """The password changed: accept only the new one, and drop sessions opened before."""
        self.users = {self.machine.username.encode(): self.machine.bmc_password.encode()}
        self.sessions.clear()
        self.end_sol()


class MachineBmcServer(BmcServer):
    """The BMCs of one shard's machines, all in this event loop."""

    async def add_machine(self, machine: Machine) -> MachineBmc:
        """Start the machine's BMC on its own UDP port on the loopback address."""
        loop = asyncio.get_running_loop()
        bmc = MachineBmc(self, machine)
        await loop.create_datagram_endpoint(lambda: bmc, local_addr=(HOST, machine.ipmi_port))
        self.bmcs.append(bmc)
        if self._sweeper is None:  # as BmcServer.add: expire idle sessions
            self._sweeper = loop.create_task(self._sweep())
        return bmc
