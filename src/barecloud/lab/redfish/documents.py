"""The Redfish documents of a lab machine: its system, chassis, manager and parts.

Built from the machine as it is at each request (power, boot override,
profile, disk size); no state of their own.
"""

from __future__ import annotations

import uuid
from typing import Any

from barecloud.lab.machine import Machine

V1 = "/redfish/v1"
STATUS_OK = {"State": "Enabled", "Health": "OK"}

RESET_TYPES = {
    "On": "on",
    "ForceOff": "off",
    "GracefulShutdown": "soft",
    "GracefulRestart": "reset",
    "ForceRestart": "reset",
    "PowerCycle": "cycle",
    "Nmi": "nmi",
}
BOOT_TARGETS = {
    "None": "none",
    "Pxe": "pxe",
    "Hdd": "disk",
    "Cd": "cd",
    "BiosSetup": "bios",
    "Floppy": "floppy",
    "Diags": "diags",
    "Usb": "usb",
    "UefiHttp": "http",
}
BOOT_ENABLED = {"Disabled": "disabled", "Once": "once", "Continuous": "continuous"}
BOOT_MODES = {"UEFI": "uefi", "Legacy": "bios"}
_ARCH = {  # cpu_arch -> (ProcessorArchitecture, InstructionSet)
    "x86_64": ("x86", "x86-64"),
    "i686": ("x86", "x86"),
    "aarch64": ("ARM", "ARM-A64"),
    "ppc64le": ("Power", "PowerISA"),
}


def _name_of(mapping: dict[str, str], value: str) -> str:
    return next(k for k, v in mapping.items() if v == value)


def ref(path: str) -> dict[str, str]:
    return {"@odata.id": path}


def collection(path: str, kind: str, name: str, members: list[str]) -> dict[str, Any]:
    return {
        "@odata.type": f"#{kind}Collection.{kind}Collection",
        "@odata.id": path,
        "Name": name,
        "Members@odata.count": len(members),
        "Members": [ref(m) for m in members],
    }


def system(m: Machine) -> dict[str, Any]:
    path = f"{V1}/Systems/{m.name}"
    p = m.profile
    return {
        "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
        "@odata.id": path,
        "Id": m.name,
        "Name": m.name,
        "UUID": m.uuid,
        "SystemType": "Physical",
        "Manufacturer": "barecloud",
        "Model": "Lab Machine",
        "SerialNumber": f"LAB{m.index:06d}",
        "BiosVersion": "barecloud-lab-1",
        "PowerState": "On" if m.power_read() else "Off",
        "Status": STATUS_OK,
        "Boot": {
            "BootSourceOverrideTarget": _name_of(BOOT_TARGETS, m.boot.device),
            "BootSourceOverrideTarget@Redfish.AllowableValues": list(BOOT_TARGETS),
            "BootSourceOverrideEnabled": _name_of(BOOT_ENABLED, m.boot.enabled),
            "BootSourceOverrideMode": _name_of(BOOT_MODES, m.boot.mode),
            "BootSourceOverrideMode@Redfish.AllowableValues": list(BOOT_MODES),
        },
        "ProcessorSummary": {
            "Count": p.cpus,
            "CoreCount": p.cpus,
            "LogicalProcessorCount": p.cpus,
            "Model": f"lab vCPU ({p.cpu_arch})",
            "Status": STATUS_OK,
        },
        "MemorySummary": {"TotalSystemMemoryGiB": p.memory_mb / 1024, "Status": STATUS_OK},
        "Processors": ref(f"{path}/Processors"),
        "Memory": ref(f"{path}/Memory"),
        "SimpleStorage": ref(f"{path}/SimpleStorage"),
        "Storage": ref(f"{path}/Storage"),
        "EthernetInterfaces": ref(f"{path}/EthernetInterfaces"),
        "Links": {
            "Chassis": [ref(f"{V1}/Chassis/{m.name}")],
            "ManagedBy": [ref(f"{V1}/Managers/{m.name}")],
        },
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": f"{path}/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": list(RESET_TYPES),
            }
        },
    }


def _disk_bytes(m: Machine) -> int:
    try:
        return m.disk_path.stat().st_size
    except OSError:
        return m.profile.disk_gb << 30


def system_part(m: Machine, part: str) -> dict[str, Any] | None:
    """The documents below a system (processors, memory, storage, NICs), or None."""
    base = f"{V1}/Systems/{m.name}"
    p = m.profile
    nics = {f"nic{i}": mac for i, mac in enumerate(m.macs)}
    arch, isa = _ARCH.get(p.cpu_arch, ("OEM", "OEM"))
    disk = {"Name": "disk0", "Model": "lab sparse disk", "CapacityBytes": _disk_bytes(m)}
    docs: dict[str, dict[str, Any]] = {
        "Processors": collection(f"{base}/Processors", "Processor", "Processors",
                                  [f"{base}/Processors/CPU0"]),
        "Processors/CPU0": {
            "@odata.type": "#Processor.v1_7_0.Processor",
            "@odata.id": f"{base}/Processors/CPU0",
            "Id": "CPU0", "Name": "CPU0", "Socket": "CPU 0", "ProcessorType": "CPU",
            "ProcessorArchitecture": arch, "InstructionSet": isa,
            "Manufacturer": "barecloud", "Model": f"lab vCPU ({p.cpu_arch})",
            "TotalCores": p.cpus, "TotalThreads": p.cpus, "Status": STATUS_OK,
        },
        "Memory": collection(f"{base}/Memory", "Memory", "Memory", [f"{base}/Memory/DIMM0"]),
        "Memory/DIMM0": {
            "@odata.type": "#Memory.v1_7_0.Memory",
            "@odata.id": f"{base}/Memory/DIMM0",
            "Id": "DIMM0", "Name": "DIMM0", "CapacityMiB": p.memory_mb,
            "MemoryDeviceType": "DDR4", "Status": STATUS_OK,
        },
        "SimpleStorage": collection(f"{base}/SimpleStorage", "SimpleStorage",
                                     "Simple Storage Collection", [f"{base}/SimpleStorage/0"]),
        "SimpleStorage/0": {
            "@odata.type": "#SimpleStorage.v1_2_0.SimpleStorage",
            "@odata.id": f"{base}/SimpleStorage/0",
            "Id": "0", "Name": "Simple Storage Controller",
            "Devices": [{**disk, "Status": STATUS_OK}],
        },
        "Storage": collection(f"{base}/Storage", "Storage", "Storage Collection",
                               [f"{base}/Storage/0"]),
        "Storage/0": {
            "@odata.type": "#Storage.v1_8_0.Storage",
            "@odata.id": f"{base}/Storage/0",
            "Id": "0", "Name": "Storage", "Status": STATUS_OK,
            "Drives": [ref(f"{base}/Storage/0/Drives/0")],
        },
        "Storage/0/Drives/0": {
            "@odata.type": "#Drive.v1_9_0.Drive",
            "@odata.id": f"{base}/Storage/0/Drives/0",
            "Id": "0", **disk, "MediaType": "HDD", "Protocol": "SATA", "Status": STATUS_OK,
        },
        "EthernetInterfaces": collection(
            f"{base}/EthernetInterfaces", "EthernetInterface", "Ethernet Interfaces",
            [f"{base}/EthernetInterfaces/{n}" for n in nics],
        ),
    }  # fmt: skip
    for nic, mac in nics.items():
        docs[f"EthernetInterfaces/{nic}"] = {
            "@odata.type": "#EthernetInterface.v1_6_0.EthernetInterface",
            "@odata.id": f"{base}/EthernetInterfaces/{nic}",
            "Id": nic, "Name": nic, "MACAddress": mac, "PermanentMACAddress": mac,
            "SpeedMbps": 10000, "LinkStatus": "LinkUp", "InterfaceEnabled": True,
            "Status": STATUS_OK,
        }  # fmt: skip
    return docs.get(part)


def chassis(m: Machine) -> dict[str, Any]:
    return {
        "@odata.type": "#Chassis.v1_14_0.Chassis",
        "@odata.id": f"{V1}/Chassis/{m.name}",
        "Id": m.name,
        "Name": f"Chassis of {m.name}",
        "ChassisType": "RackMount",
        "Manufacturer": "barecloud",
        "SerialNumber": f"LAB{m.index:06d}",
        "PowerState": "On" if m.power_on else "Off",
        "Status": STATUS_OK,
        "Links": {
            "ComputerSystems": [ref(f"{V1}/Systems/{m.name}")],
            "ManagedBy": [ref(f"{V1}/Managers/{m.name}")],
        },
    }


def manager(m: Machine) -> dict[str, Any]:
    return {
        "@odata.type": "#Manager.v1_10_0.Manager",
        "@odata.id": f"{V1}/Managers/{m.name}",
        "Id": m.name,
        "Name": f"BMC of {m.name}",
        "ManagerType": "BMC",
        "FirmwareVersion": "barecloud-lab-1",
        "UUID": str(uuid.uuid5(uuid.UUID(m.uuid), "bmc")),
        "PowerState": "On",
        "Status": STATUS_OK,
        "Links": {
            "ManagerForServers": [ref(f"{V1}/Systems/{m.name}")],
            "ManagerForChassis": [ref(f"{V1}/Chassis/{m.name}")],
        },
    }
