"""The Redfish service of a lab shard: one HTTP service for all its machines.

One service holds many systems, as a chassis manager or sushy-tools does:
``/redfish/v1/Systems/<name>`` (the machine's UUID is accepted too), with
its ``Chassis`` and ``Managers`` twins.  Unlike sushy-tools it acts at
once: a reset has happened when the 204 is sent.

Credentials are per machine (the same ones its IPMI BMC takes): HTTP basic
auth, or an ``X-Auth-Token`` from the SessionService, checked against the
machine on each request, so a ``bad-credentials`` fault refuses existing
sessions too.  Collections list the members the credentials may see.  The
service root is open, as the standard says.

Faults: ``unreachable`` holds the request unanswered until the client
gives up (a connect timeout cannot be had per system on a shared port, a
read timeout can), ``slow`` answers late; ``ignore-power`` acknowledges
resets and does nothing.  Errors are Redfish error bodies with a Base
message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from barecloud.lab.machine import Machine

V1 = "/redfish/v1"
SESSION_TIMEOUT = 1800.0
_TYPE = "application/json; charset=utf-8"
_OK = {"State": "Enabled", "Health": "OK"}

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


class Systems(Protocol):
    """The machines a service answers for."""

    def get(self, ident: str) -> Machine | None:
        """A machine by name or UUID."""

    def __iter__(self) -> Iterator[Machine]: ...


@dataclass(slots=True)
class _Session:
    id: str
    token: str
    username: str
    password: str
    last_used: float


def _name_of(mapping: dict[str, str], value: str) -> str:
    return next(k for k, v in mapping.items() if v == value)


def _ref(path: str) -> dict[str, str]:
    return {"@odata.id": path}


def _collection(path: str, kind: str, name: str, members: list[str]) -> dict[str, Any]:
    return {
        "@odata.type": f"#{kind}Collection.{kind}Collection",
        "@odata.id": path,
        "Name": name,
        "Members@odata.count": len(members),
        "Members": [_ref(m) for m in members],
    }


def redfish_error(
    status: int, message_id: str, message: str, *args: str, headers: dict[str, str] | None = None
) -> Response:
    """A Redfish error body: one Base message, its id also as the error code."""
    full_id = f"Base.1.8.{message_id}"
    info = {
        "@odata.type": "#Message.v1_1_1.Message",
        "MessageId": full_id,
        "Message": message,
        "MessageArgs": list(args),
        "Severity": "Critical" if status >= 500 else "Warning",
        "MessageSeverity": "Critical" if status >= 500 else "Warning",
        "Resolution": "None.",
    }
    body = {"error": {"code": full_id, "message": message, "@Message.ExtendedInfo": [info]}}
    return JSONResponse(body, status, headers=headers, media_type=_TYPE)


def _unauthorized(path: str) -> Response:
    return redfish_error(
        401,
        "ResourceAtUriUnauthorized",
        f"While accessing the resource at {path}, the service received an authorization "
        "error: wrong or missing credentials.",
        path,
        headers={"WWW-Authenticate": 'Basic realm="barecloud lab BMC"'},
    )


def _not_found(path: str) -> Response:
    return redfish_error(
        404, "ResourceMissingAtURI", f"The resource at the URI {path} was not found.", path
    )


def _json(body: dict[str, Any], status: int = 200, etag: bool = False) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"OData-Version": "4.0"}
    if etag:
        headers["ETag"] = _etag(data)
    return Response(data, status, headers=headers, media_type=_TYPE)


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16] + '"'


async def _hang(request: Request) -> None:
    """Wait, without answering, until the client gives up (``unreachable``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no route, wrong method) as Redfish errors."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return redfish_error(
            405,
            "ActionNotSupported",
            f"The action {request.method} on {request.url.path} is not supported.",
            request.method,
        )
    if exc.status_code == 404:
        return _not_found(request.url.path)
    return redfish_error(exc.status_code, "GeneralError", str(exc.detail))


class RedfishService:
    """The Redfish resources of a shard's machines; ``routes()`` mounts them."""

    def __init__(self, systems: Systems, service_uuid: uuid.UUID) -> None:
        self.systems = systems
        self.service_uuid = service_uuid
        self.sessions: dict[str, _Session] = {}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/redfish", self.versions),
            Route(V1, self.root),
            Route(f"{V1}/SessionService", self.session_service),
            Route(f"{V1}/SessionService/Sessions", self.sessions_list, methods=["GET", "POST"]),
            Route(f"{V1}/SessionService/Sessions/{{sid}}", self.session, methods=["GET", "DELETE"]),
            Route(f"{V1}/{{kind}}", self.collection),
            Route(f"{V1}/{{kind}}/{{ident}}", self.member, methods=["GET", "PATCH"]),
            Route(
                f"{V1}/Systems/{{ident}}/Actions/ComputerSystem.Reset", self.reset, methods=["POST"]
            ),
            Route(f"{V1}/Systems/{{ident}}/{{part:path}}", self.system_part),
        ]

    # --- authentication

    def _credentials(self, request: Request) -> tuple[str, str] | None:
        token = request.headers.get("x-auth-token")
        if token is not None:
            session = self._session_by_token(token)
            if session is None:
                return None
            session.last_used = time.monotonic()
            return session.username, session.password
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    def _session_by_token(self, token: str) -> _Session | None:
        now = time.monotonic()
        for sid in [s.id for s in self.sessions.values() if now - s.last_used > SESSION_TIMEOUT]:
            del self.sessions[sid]
        return next((s for s in self.sessions.values() if hmac.compare_digest(s.token, token)),
                    None)  # fmt: skip

    @staticmethod
    def _allowed(machine: Machine, creds: tuple[str, str] | None) -> bool:
        if creds is None:
            return False
        user_ok = hmac.compare_digest(creds[0].encode(), machine.username.encode())
        return hmac.compare_digest(creds[1].encode(), machine.bmc_password.encode()) and user_ok

    def _visible(self, creds: tuple[str, str] | None) -> list[Machine]:
        return [m for m in self.systems if self._allowed(m, creds)]

    async def _machine(self, request: Request) -> Machine | Response:
        """The machine a request is for, after its faults and its credentials."""
        machine = self.systems.get(request.path_params["ident"])
        if machine is None:
            return _not_found(request.url.path)
        if machine.unreachable:
            await _hang(request)
            return Response(status_code=504)  # never reaches the client: it is gone
        if machine.delay > 0:
            await asyncio.sleep(machine.delay)
        if not self._allowed(machine, self._credentials(request)):
            return _unauthorized(request.url.path)
        return machine

    # --- service root and sessions

    async def versions(self, request: Request) -> Response:
        return _json({"v1": f"{V1}/"})

    async def root(self, request: Request) -> Response:
        return _json({
            "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
            "@odata.id": V1,
            "Id": "RootService",
            "Name": "barecloud lab Redfish service",
            "RedfishVersion": "1.11.0",
            "UUID": str(self.service_uuid),
            "Vendor": "barecloud",
            "Product": "barecloud lab",
            "Systems": _ref(f"{V1}/Systems"),
            "Chassis": _ref(f"{V1}/Chassis"),
            "Managers": _ref(f"{V1}/Managers"),
            "SessionService": _ref(f"{V1}/SessionService"),
            "Links": {"Sessions": _ref(f"{V1}/SessionService/Sessions")},
        })  # fmt: skip

    async def session_service(self, request: Request) -> Response:
        if not self._visible(self._credentials(request)):
            return _unauthorized(request.url.path)
        return _json({
            "@odata.type": "#SessionService.v1_1_8.SessionService",
            "@odata.id": f"{V1}/SessionService",
            "Id": "SessionService",
            "Name": "Session Service",
            "ServiceEnabled": True,
            "SessionTimeout": int(SESSION_TIMEOUT),
            "Sessions": _ref(f"{V1}/SessionService/Sessions"),
            "Status": _OK,
        })  # fmt: skip

    async def sessions_list(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._login(request)
        creds = self._credentials(request)
        if not self._visible(creds):
            return _unauthorized(request.url.path)
        assert creds is not None
        mine = [s.id for s in self.sessions.values() if s.username == creds[0]]
        path = f"{V1}/SessionService/Sessions"
        members = [f"{path}/{sid}" for sid in mine]
        return _json(_collection(path, "Session", "Session Collection", members))

    async def _login(self, request: Request) -> Response:
        body = await _body(request)
        if isinstance(body, Response):
            return body
        user, password = body.get("UserName"), body.get("Password")
        if not isinstance(user, str) or not isinstance(password, str):
            return redfish_error(400, "PropertyMissing", "UserName and Password are required.",
                                 "UserName")  # fmt: skip
        if not self._visible((user, password)):
            return _unauthorized(request.url.path)
        session = _Session(secrets.token_hex(8), secrets.token_urlsafe(24), user, password,
                           time.monotonic())  # fmt: skip
        self.sessions[session.id] = session
        path = f"{V1}/SessionService/Sessions/{session.id}"
        rsp = _json(self._session_doc(session), 201)
        rsp.headers["X-Auth-Token"] = session.token
        rsp.headers["Location"] = path
        return rsp

    async def session(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["sid"])
        creds = self._credentials(request)
        if not self._visible(creds):
            return _unauthorized(request.url.path)
        assert creds is not None
        if session is None or session.username != creds[0]:
            return _not_found(request.url.path)
        if request.method == "DELETE":
            del self.sessions[session.id]
            return Response(status_code=204)
        return _json(self._session_doc(session))

    @staticmethod
    def _session_doc(session: _Session) -> dict[str, Any]:
        return {
            "@odata.type": "#Session.v1_3_0.Session",
            "@odata.id": f"{V1}/SessionService/Sessions/{session.id}",
            "Id": session.id,
            "Name": "User Session",
            "UserName": session.username,
        }

    # --- systems, chassis, managers

    async def collection(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("Systems", "Chassis", "Managers"):
            return _not_found(request.url.path)
        visible = self._visible(self._credentials(request))
        if not visible:
            return _unauthorized(request.url.path)
        schema = {"Systems": "ComputerSystem", "Chassis": "Chassis", "Managers": "Manager"}[kind]
        members = [f"{V1}/{kind}/{m.name}" for m in visible]
        return _json(_collection(f"{V1}/{kind}", schema, f"{schema} Collection", members))

    async def member(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("Systems", "Chassis", "Managers"):
            return _not_found(request.url.path)
        machine = await self._machine(request)
        if isinstance(machine, Response):
            return machine
        if kind == "Chassis":
            return _json(chassis(machine))
        if kind == "Managers":
            return _json(manager(machine))
        if request.method == "PATCH":
            return await self._patch_system(request, machine)
        return _json(system(machine), etag=True)

    async def system_part(self, request: Request) -> Response:
        machine = await self._machine(request)
        if isinstance(machine, Response):
            return machine
        doc = system_part(machine, request.path_params["part"])
        return _json(doc) if doc is not None else _not_found(request.url.path)

    async def reset(self, request: Request) -> Response:
        machine = await self._machine(request)
        if isinstance(machine, Response):
            return machine
        body = await _body(request)
        if isinstance(body, Response):
            return body
        if "ResetType" not in body:
            return redfish_error(
                400, "ActionParameterMissing",
                "The action ComputerSystem.Reset requires the parameter ResetType.",
                "ComputerSystem.Reset", "ResetType",
            )  # fmt: skip
        value = body["ResetType"]
        if value not in RESET_TYPES:
            return redfish_error(
                400, "ActionParameterValueNotInList",
                f"The value {value!r} for ResetType is not in the list of acceptable values: "
                f"{', '.join(RESET_TYPES)}.",
                str(value), "ResetType", "ComputerSystem.Reset",
            )  # fmt: skip
        machine.power(RESET_TYPES[value], "redfish")
        return Response(status_code=204)

    async def _patch_system(self, request: Request, machine: Machine) -> Response:
        current = _etag(json.dumps(system(machine), separators=(",", ":")).encode())
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match.strip() not in ("*", current):
            return redfish_error(
                412, "PreconditionFailed",
                "The ETag supplied did not match the ETag required to change this resource.",
            )  # fmt: skip
        body = await _body(request)
        if isinstance(body, Response):
            return body
        for key in body:
            if key != "Boot":
                return redfish_error(
                    400, "PropertyNotWritable", f"The property {key} is a read only property.", key
                )
        boot = body.get("Boot")
        if not isinstance(boot, dict):
            return redfish_error(
                400,
                "PropertyValueTypeError",
                "The property Boot must be an object.",
                str(boot),
                "Boot",
            )
        changes: dict[str, str] = {}
        for key, value in boot.items():
            allowed = {
                "BootSourceOverrideTarget": ("device", BOOT_TARGETS),
                "BootSourceOverrideEnabled": ("enabled", BOOT_ENABLED),
                "BootSourceOverrideMode": ("mode", BOOT_MODES),
            }.get(key)
            if allowed is None:
                return redfish_error(
                    400,
                    "PropertyUnknown",
                    f"The property {key} is not a writable Boot property.",
                    key,
                )
            field, values = allowed
            if value not in values:
                return redfish_error(
                    400, "PropertyValueNotInList",
                    f"The value {value!r} for the property {key} is not in the list of "
                    f"acceptable values: {', '.join(values)}.",
                    str(value), key,
                )  # fmt: skip
            changes[field] = values[value]
        # A target set while the override is disabled applies to the next boot, as
        # most BMCs do, unless the request also says for how long.
        if "device" in changes and "enabled" not in changes and machine.boot.enabled == "disabled":
            changes["enabled"] = "once"
        machine.set_boot(**changes)
        return _json(system(machine), etag=True)


async def _body(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return redfish_error(400, "MalformedJSON",
                             "The request body submitted was malformed JSON.")  # fmt: skip
    if not isinstance(body, dict):
        return redfish_error(400, "MalformedJSON", "The request body must be a JSON object.")
    return body


# --- documents ----------------------------------------------------------------


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
        "Status": _OK,
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
            "Status": _OK,
        },
        "MemorySummary": {"TotalSystemMemoryGiB": p.memory_mb / 1024, "Status": _OK},
        "Processors": _ref(f"{path}/Processors"),
        "Memory": _ref(f"{path}/Memory"),
        "SimpleStorage": _ref(f"{path}/SimpleStorage"),
        "Storage": _ref(f"{path}/Storage"),
        "EthernetInterfaces": _ref(f"{path}/EthernetInterfaces"),
        "Links": {
            "Chassis": [_ref(f"{V1}/Chassis/{m.name}")],
            "ManagedBy": [_ref(f"{V1}/Managers/{m.name}")],
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
        "Processors": _collection(f"{base}/Processors", "Processor", "Processors",
                                  [f"{base}/Processors/CPU0"]),
        "Processors/CPU0": {
            "@odata.type": "#Processor.v1_7_0.Processor",
            "@odata.id": f"{base}/Processors/CPU0",
            "Id": "CPU0", "Name": "CPU0", "Socket": "CPU 0", "ProcessorType": "CPU",
            "ProcessorArchitecture": arch, "InstructionSet": isa,
            "Manufacturer": "barecloud", "Model": f"lab vCPU ({p.cpu_arch})",
            "TotalCores": p.cpus, "TotalThreads": p.cpus, "Status": _OK,
        },
        "Memory": _collection(f"{base}/Memory", "Memory", "Memory", [f"{base}/Memory/DIMM0"]),
        "Memory/DIMM0": {
            "@odata.type": "#Memory.v1_7_0.Memory",
            "@odata.id": f"{base}/Memory/DIMM0",
            "Id": "DIMM0", "Name": "DIMM0", "CapacityMiB": p.memory_mb,
            "MemoryDeviceType": "DDR4", "Status": _OK,
        },
        "SimpleStorage": _collection(f"{base}/SimpleStorage", "SimpleStorage",
                                     "Simple Storage Collection", [f"{base}/SimpleStorage/0"]),
        "SimpleStorage/0": {
            "@odata.type": "#SimpleStorage.v1_2_0.SimpleStorage",
            "@odata.id": f"{base}/SimpleStorage/0",
            "Id": "0", "Name": "Simple Storage Controller",
            "Devices": [{**disk, "Status": _OK}],
        },
        "Storage": _collection(f"{base}/Storage", "Storage", "Storage Collection",
                               [f"{base}/Storage/0"]),
        "Storage/0": {
            "@odata.type": "#Storage.v1_8_0.Storage",
            "@odata.id": f"{base}/Storage/0",
            "Id": "0", "Name": "Storage", "Status": _OK,
            "Drives": [_ref(f"{base}/Storage/0/Drives/0")],
        },
        "Storage/0/Drives/0": {
            "@odata.type": "#Drive.v1_9_0.Drive",
            "@odata.id": f"{base}/Storage/0/Drives/0",
            "Id": "0", **disk, "MediaType": "HDD", "Protocol": "SATA", "Status": _OK,
        },
        "EthernetInterfaces": _collection(
            f"{base}/EthernetInterfaces", "EthernetInterface", "Ethernet Interfaces",
            [f"{base}/EthernetInterfaces/{n}" for n in nics],
        ),
    }  # fmt: skip
    for nic, mac in nics.items():
        docs[f"EthernetInterfaces/{nic}"] = {
            "@odata.type": "#EthernetInterface.v1_6_0.EthernetInterface",
            "@odata.id": f"{base}/EthernetInterfaces/{nic}",
            "Id": nic, "Name": nic, "MACAddress": mac, "PermanentMACAddress": mac,
            "SpeedMbps": 10000, "LinkStatus": "LinkUp", "InterfaceEnabled": True, "Status": _OK,
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
        "Status": _OK,
        "Links": {
            "ComputerSystems": [_ref(f"{V1}/Systems/{m.name}")],
            "ManagedBy": [_ref(f"{V1}/Managers/{m.name}")],
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
        "Status": _OK,
        "Links": {
            "ManagerForServers": [_ref(f"{V1}/Systems/{m.name}")],
            "ManagerForChassis": [_ref(f"{V1}/Chassis/{m.name}")],
        },
    }
