"""A small Redfish service for driver tests: Starlette, served by uvicorn in the test's loop.

It answers at once (sushy-tools' emulator applies power changes after a
random 1-11 s: see LAB-NOTES) unless told otherwise, and keeps what the
driver asked for so tests can check it: resets, PATCH bodies, requests.
Shapes follow DMTF's public mockups (ComputerSystem v1.x, Storage, Drive,
SimpleStorage, EthernetInterface, Processor).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

GIB = 1024**3
ROOT = "/redfish/v1"


@dataclass
class System:
    ident: str = "1"
    power: str = "Off"
    # Seconds a reset takes; meanwhile PowerState says PoweringOn/PoweringOff.
    delay: float = 0.0
    # False: the service hides BootSourceOverrideMode (legacy-only firmware).
    has_boot_mode: bool = True
    boot: dict[str, Any] = field(default_factory=lambda: {
        "BootSourceOverrideEnabled": "Disabled",
        "BootSourceOverrideTarget": "None",
        "BootSourceOverrideMode": "UEFI",
        "BootSourceOverrideTarget@Redfish.AllowableValues": [
            "None", "Pxe", "Hdd", "Cd", "BiosSetup", "UefiShell"],
    })
    allowed_resets: list[str] = field(default_factory=lambda: [
        "On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi"])
    # What the OS does with GracefulShutdown: False is a hung machine.
    obeys_acpi: bool = True
    cpus: list[dict[str, Any]] = field(default_factory=lambda: [
        {"TotalCores": 4, "TotalThreads": 8, "InstructionSet": "x86-64",
         "ProcessorArchitecture": "x86", "Model": "Lab CPU"},
        {"TotalCores": 4, "TotalThreads": 8, "InstructionSet": "x86-64",
         "ProcessorArchitecture": "x86", "Model": "Lab CPU"},
    ])
    memory_gib: float = 31.5
    drives: list[int] = field(default_factory=lambda: [120 * GIB, 960 * GIB + 12345])
    simple_storage_only: bool = False  # older services: SimpleStorage, no Storage
    macs: list[str] = field(default_factory=lambda: ["52:54:00:AA:00:01", "52:54:00:aa:00:02"])
    boots: int = 0
    resets: list[str] = field(default_factory=list)
    patches: list[dict[str, Any]] = field(default_factory=list)
    _pending: asyncio.TimerHandle | None = None

    def reset(self, kind: str) -> None:
        self.resets.append(kind)
        target = {"On": "On", "ForceOff": "Off", "GracefulShutdown": "Off",
                  "ForceRestart": "On", "GracefulRestart": "On", "PowerCycle": "On"}.get(kind)
        if target is None:
            return
        if kind == "GracefulShutdown" and not self.obeys_acpi:
            return
        restart = kind in ("ForceRestart", "GracefulRestart", "PowerCycle")
        if target == "On" and (self.power == "Off" or restart):
            self.boots += 1
            if self.boot["BootSourceOverrideEnabled"] == "Once":
                self.boot["BootSourceOverrideEnabled"] = "Disabled"
                self.boot["BootSourceOverrideTarget"] = "None"
        if not self.delay:
            self.power = target
            return
        self.power = "PoweringOn" if target == "On" else "PoweringOff"
        if self._pending:
            self._pending.cancel()
        self._pending = asyncio.get_running_loop().call_later(
            self.delay, setattr, self, "power", target)

    def resource(self) -> dict[str, Any]:
        base = f"{ROOT}/Systems/{self.ident}"
        boot = dict(self.boot)
        if not self.has_boot_mode:
            boot.pop("BootSourceOverrideMode", None)
        threads = sum(c["TotalThreads"] for c in self.cpus)
        out: dict[str, Any] = {
            "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
            "@odata.id": base, "Id": self.ident, "Name": "Lab system",
            "PowerState": self.power, "Boot": boot,
            "ProcessorSummary": {"Count": len(self.cpus), "LogicalProcessorCount": threads,
                                 "Model": "Lab CPU"},
            "MemorySummary": {"TotalSystemMemoryGiB": self.memory_gib},
            "Processors": {"@odata.id": f"{base}/Processors"},
            "EthernetInterfaces": {"@odata.id": f"{base}/EthernetInterfaces"},
            "SimpleStorage": {"@odata.id": f"{base}/SimpleStorage"},
            "Actions": {"#ComputerSystem.Reset": {
                "target": f"{base}/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": self.allowed_resets}},
        }
        if not self.simple_storage_only:
            out["Storage"] = {"@odata.id": f"{base}/Storage"}
        return out


def _error(status: int, message: str, code: str = "Base.1.8.GeneralError") -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": "See @Message.ExtendedInfo.",
                                   "@Message.ExtendedInfo": [{"MessageId": code,
                                                              "Message": message}]}},
                        status_code=status)


def _collection(path: str, members: list[str]) -> dict[str, Any]:
    return {"@odata.id": path, "Members@odata.count": len(members),
            "Members": [{"@odata.id": m} for m in members]}


class RedfishService:
    """Systems behind one BMC address; ``users`` for basic and session auth."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.systems: dict[str, System] = {}
        self.tokens: dict[str, str] = {}  # token -> user
        self.stall = 0.0  # seconds every request waits first (a BMC that hangs)
        self.requests: list[tuple[str, str, str]] = []  # method, path, auth kind
        self.logins = 0
        self.port = 0
        self.app = Starlette(routes=[
            Route(ROOT, self.root),
            Route(f"{ROOT}/SessionService/Sessions", self.login, methods=["POST"]),
            Route(f"{ROOT}/SessionService/Sessions/{{token}}", self.logout,
                  methods=["DELETE"]),
            Route(f"{ROOT}/Systems", self.system_list),
            Route(f"{ROOT}/Systems/{{ident}}", self.system, methods=["GET", "PATCH"]),
            Route(f"{ROOT}/Systems/{{ident}}/Actions/ComputerSystem.Reset", self.reset,
                  methods=["POST"]),
            Route(f"{ROOT}/Systems/{{ident}}/{{kind}}", self.collection),
            Route(f"{ROOT}/Systems/{{ident}}/{{kind}}/{{member}}", self.member),
            Route(f"{ROOT}/Systems/{{ident}}/Storage/{{member}}/Drives/{{drive}}", self.drive),
        ])

    def add(self, system: System) -> System:
        self.systems[system.ident] = system
        return system

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- auth ------------------------------------------------------------------------------
    async def _gate(self, request: Request, public: bool = False) -> Response | None:
        if self.stall:
            await asyncio.sleep(self.stall)
        auth = request.headers.get("authorization", "")
        token = request.headers.get("x-auth-token")
        kind = "token" if token else "basic" if auth else "none"
        self.requests.append((request.method, request.url.path, kind))
        if public:
            return None
        if token and token in self.tokens:
            return None
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            if self.users.get(user) == password:
                return None
        return _error(401, "The authentication credentials are not valid.",
                      "Base.1.8.NoValidSession")

    async def root(self, request: Request) -> Response:
        return await self._gate(request, public=True) or JSONResponse({
            "@odata.id": ROOT, "RedfishVersion": "1.15.0",
            "Systems": {"@odata.id": f"{ROOT}/Systems"},
            "Links": {"Sessions": {"@odata.id": f"{ROOT}/SessionService/Sessions"}}})

    async def login(self, request: Request) -> Response:
        await self._gate(request, public=True)
        body = await request.json()
        if self.users.get(body.get("UserName")) != body.get("Password"):
            return _error(401, "Invalid user name or password.")
        token = secrets.token_hex(16)
        self.tokens[token] = body["UserName"]
        self.logins += 1
        return JSONResponse({"Id": token}, status_code=201, headers={
            "X-Auth-Token": token,
            "Location": f"{ROOT}/SessionService/Sessions/{token}"})

    async def logout(self, request: Request) -> Response:
        self.tokens.pop(request.path_params["token"], None)
        return Response(status_code=204)

    # --- systems ---------------------------------------------------------------------------
    def _system(self, request: Request) -> System | Response:
        found = self.systems.get(request.path_params["ident"])
        if found is None:
            return _error(404, f"The resource at the URI {request.url.path} was not found.",
                          "Base.1.8.ResourceMissingAtURI")
        return found

    async def system_list(self, request: Request) -> Response:
        return await self._gate(request) or JSONResponse(_collection(
            f"{ROOT}/Systems", [f"{ROOT}/Systems/{i}" for i in self.systems]))

    async def system(self, request: Request) -> Response:
        denied = await self._gate(request)
        if denied:
            return denied
        s = self._system(request)
        if not isinstance(s, System):
            return s
        if request.method == "PATCH":
            body = await request.json()
            s.patches.append(body)
            boot = body.get("Boot") or {}
            allowed = s.boot["BootSourceOverrideTarget@Redfish.AllowableValues"]
            target = boot.get("BootSourceOverrideTarget")
            if target is not None and target not in allowed:
                return _error(400, f"The value {target} for the property "
                              "BootSourceOverrideTarget is not in the list of acceptable "
                              "values.", "Base.1.8.PropertyValueNotInList")
            if "BootSourceOverrideMode" in boot and not s.has_boot_mode:
                return _error(400, "The property BootSourceOverrideMode is not in the list "
                              "of valid properties for the resource.",
                              "Base.1.8.PropertyUnknown")
            s.boot.update({k: v for k, v in boot.items() if not k.endswith("AllowableValues")})
            return Response(status_code=204)
        return JSONResponse(s.resource())

    async def reset(self, request: Request) -> Response:
        denied = await self._gate(request)
        if denied:
            return denied
        s = self._system(request)
        if not isinstance(s, System):
            return s
        kind = (await request.json()).get("ResetType")
        if kind not in s.allowed_resets:
            return _error(400, f"The value {kind} for the parameter ResetType is not in the "
                          "list of acceptable values.", "Base.1.8.ActionParameterValueNotInList")
        s.reset(kind)
        return Response(status_code=204)

    async def collection(self, request: Request) -> Response:
        denied = await self._gate(request)
        if denied:
            return denied
        s = self._system(request)
        if not isinstance(s, System):
            return s
        kind = request.path_params["kind"]
        base = f"{ROOT}/Systems/{s.ident}/{kind}"
        counts = {"Processors": len(s.cpus), "EthernetInterfaces": len(s.macs),
                  "SimpleStorage": 1, "Storage": 0 if s.simple_storage_only else 1}
        if kind not in counts:
            return _error(404, f"The resource at the URI {request.url.path} was not found.")
        return JSONResponse(_collection(base, [f"{base}/{i + 1}" for i in range(counts[kind])]))

    async def member(self, request: Request) -> Response:
        denied = await self._gate(request)
        if denied:
            return denied
        s = self._system(request)
        if not isinstance(s, System):
            return s
        kind, index = request.path_params["kind"], int(request.path_params["member"]) - 1
        path = request.url.path
        if kind == "Processors" and index < len(s.cpus):
            return JSONResponse({"@odata.id": path, "Id": str(index + 1), **s.cpus[index],
                                 "Status": {"State": "Enabled", "Health": "OK"}})
        if kind == "EthernetInterfaces" and index < len(s.macs):
            return JSONResponse({"@odata.id": path, "Id": str(index + 1),
                                 "MACAddress": s.macs[index],
                                 "Status": {"State": "Enabled", "Health": "OK"}})
        if kind == "SimpleStorage" and index == 0:
            return JSONResponse({"@odata.id": path, "Id": "1", "Devices": [
                {"Name": f"disk{i}", "CapacityBytes": size, "Status": {"State": "Enabled"}}
                for i, size in enumerate(s.drives)] + [
                {"Name": "empty bay", "Status": {"State": "Absent"}}]})
        if kind == "Storage" and index == 0 and not s.simple_storage_only:
            return JSONResponse({"@odata.id": path, "Id": "1", "Drives": [
                {"@odata.id": f"{path}/Drives/{i + 1}"} for i in range(len(s.drives))]})
        return _error(404, f"The resource at the URI {path} was not found.")

    async def drive(self, request: Request) -> Response:
        denied = await self._gate(request)
        if denied:
            return denied
        s = self._system(request)
        if not isinstance(s, System):
            return s
        index = int(request.path_params["drive"]) - 1
        if index >= len(s.drives):
            return _error(404, f"The resource at the URI {request.url.path} was not found.")
        return JSONResponse({"@odata.id": request.url.path, "Id": str(index + 1),
                             "CapacityBytes": s.drives[index], "MediaType": "SSD",
                             "Status": {"State": "Enabled", "Health": "OK"}})


@contextlib.asynccontextmanager
async def serving(service: RedfishService) -> AsyncIterator[RedfishService]:
    """Serve ``service`` on a free 127.0.0.1 port in the running loop."""
    # proto=IPPROTO_TCP, or asyncio does not set TCP_NODELAY on accepted sockets and
    # every answer (headers and body written apart) waits 40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    service.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(service.app, log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield service
    finally:
        server.should_exit = True
        await task
        sock.close()
