"""Hardware types: which implementations of each interface a driver may use.

The first implementation listed for an interface is the default (Ironic's
``hardware_type.py`` pattern).  Real protocols (ipmi, redfish) register here
as they land.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from barecloud.drivers import agent, fake, ipmi, ipxe, network, noop, redfish
from barecloud.drivers.base import INTERFACE_TYPES
from barecloud.drivers.settings import Setting
from barecloud.drivers.switches import registry as switch_registry
from barecloud.errors import InvalidParameter, prefix

# interface type -> implementation name -> class
IMPLEMENTATIONS: dict[str, dict[str, type[Any]]] = {
    "power": {"fake": fake.FakePower, "ipmitool": ipmi.IpmitoolPower,
              "redfish": redfish.RedfishPower},
    "management": {"fake": fake.FakeManagement, "ipmitool": ipmi.IpmitoolManagement,
                   "redfish": redfish.RedfishManagement},
    "boot": {"fake": fake.FakeBoot, "ipxe": ipxe.IpxeBoot},
    "deploy": {"fake": fake.FakeDeploy, "agent": agent.AgentDeploy},
    "network": {"flat": noop.FlatNetwork, "noop": noop.NoopNetwork, "fake": fake.FakeNetwork,
                "neutron": network.NeutronNetwork},
    "console": {"no-console": noop.NoConsole, "fake": fake.FakeConsole,
                "ipmi-sol": noop.ServedConsole},
    "inspect": {"fake": fake.FakeInspect, "no-inspect": noop.NoInspect,
                "redfish": redfish.RedfishInspect, "agent": agent.AgentInspect},
    "rescue": {"fake": fake.FakeRescue, "no-rescue": noop.NoRescue},
    "bios": {"fake": fake.FakeBios, "no-bios": noop.NoBios},
    "firmware": {"fake": fake.FakeFirmware, "no-firmware": noop.NoFirmware},
    "raid": {"fake": fake.FakeRaid, "no-raid": noop.NoRaid},
    "storage": {"fake": fake.FakeStorage, "noop": noop.NoopStorage},
    "vendor": {"fake": fake.FakeVendor, "no-vendor": noop.NoVendor},
}
# What the real hardware types have of the interfaces barecloud does not drive:
# nothing (Ironic's no-op implementations), so they list only these.
_NOT_DRIVEN = {"bios": ("no-bios",), "firmware": ("no-firmware",), "raid": ("no-raid",),
               "storage": ("noop",), "vendor": ("no-vendor",)}


@dataclass(frozen=True)
class HardwareType:
    name: str
    # interface type -> supported implementation names, default first
    supported: dict[str, tuple[str, ...]]

    def default(self, iface: str) -> str:
        return self.supported[iface][0]

    def check(self, iface: str, impl: str | None) -> str:
        """The implementation to use for ``iface``: ``impl`` if allowed, else the default."""
        if impl is None:
            return self.default(iface)
        if impl not in self.supported[iface]:
            raise InvalidParameter(
                f"Could not find a suitable {iface} interface '{impl}' for hardware type "
                f"'{self.name}'; supported: {', '.join(self.supported[iface])}."
            )
        return impl


HARDWARE_TYPES: dict[str, HardwareType] = {
    "fake-hardware": HardwareType(
        "fake-hardware",
        {
            "power": ("fake",),
            "management": ("fake",),
            # "ipxe": the boot script is written for a machine the test plays.
            "boot": ("fake", "ipxe"),
            # "agent": a fake machine whose agent the test plays over HTTP.
            "deploy": ("fake", "agent"),
            # "flat" first: Ironic's default (its generic hardware types' first).
            "network": ("flat", "noop", "fake", "neutron"),
            # "fake" first, as every optional interface of Ironic's fake-hardware:
            # enabling the console records it (there is nothing to connect to).
            "console": ("fake", "no-console"),
            "inspect": ("fake", "no-inspect", "agent"),
            "rescue": ("fake", "no-rescue"),
            "bios": ("fake", "no-bios"),
            "firmware": ("fake", "no-firmware"),
            "raid": ("fake", "no-raid"),
            "storage": ("fake", "noop"),
            "vendor": ("fake", "no-vendor"),
        },
    ),
    # Real machines: network boot over iPXE, the agent writes the disk.  The
    # "fake" boot and deploy remain for power-only tests of many machines.
    "ipmi": HardwareType(
        "ipmi",
        {
            "power": ("ipmitool",),
            "management": ("ipmitool",),
            "boot": ("ipxe", "fake"),
            "deploy": ("agent", "fake"),
            "network": ("flat", "noop", "neutron"),
            # Serial-over-LAN through barecloud's console websocket (remote-consoles.md).
            "console": ("no-console", "ipmi-sol"),
            "inspect": ("no-inspect", "agent"),
            "rescue": ("no-rescue",),
            **_NOT_DRIVEN,
        },
    ),
    "redfish": HardwareType(
        "redfish",
        {
            "power": ("redfish",),
            "management": ("redfish",),
            "boot": ("ipxe", "fake"),
            "deploy": ("agent", "fake"),
            "network": ("flat", "noop", "neutron"),
            "console": ("no-console",),
            "inspect": ("redfish", "no-inspect", "agent"),
            "rescue": ("no-rescue",),
            **_NOT_DRIVEN,
        },
    ),
}


def hardware_type(name: str) -> HardwareType:
    try:
        return HARDWARE_TYPES[name]
    except KeyError:
        raise InvalidParameter(
            f"Could not find a suitable driver '{prefix(name)}'; enabled: "
            f"{', '.join(sorted(HARDWARE_TYPES))}."
        ) from None


_INSTANCES: dict[tuple[str, str], Any] = {}


def interface(iface: str, impl: str) -> Any:
    """A shared instance of implementation ``impl`` of interface type ``iface``."""
    key = (iface, impl)
    if key not in _INSTANCES:
        _INSTANCES[key] = IMPLEMENTATIONS[iface][impl]()
    return _INSTANCES[key]


async def close_connections() -> None:
    """Log out of the BMCs the running loop holds sessions with, and close its clients."""
    await ipmi.close_sessions()
    await redfish.close_clients()
    await switch_registry.close_all()


def settings_of(driver: str) -> dict[str, Setting]:
    """Every driver_info key any default interface of ``driver`` reads."""
    hw = hardware_type(driver)
    out: dict[str, Setting] = {}
    for iface in INTERFACE_TYPES:
        for impl in hw.supported[iface]:
            for s in IMPLEMENTATIONS[iface][impl].settings:
                out.setdefault(s.name, s)
    return out


def secret_keys(driver: str) -> frozenset[str]:
    try:
        return frozenset(k for k, s in settings_of(driver).items() if s.secret)
    except InvalidParameter:
        return frozenset()


# Names that look secret whatever the driver says, so a typo never leaks one.
SECRET_WORDS = ("password", "secret", "token")


def mask(driver: str, info: dict[str, Any]) -> dict[str, Any]:
    secrets = secret_keys(driver)
    return {
        k: ("******" if (k in secrets or any(w in k.lower() for w in SECRET_WORDS)) and v
            else v)
        for k, v in info.items()
    }
