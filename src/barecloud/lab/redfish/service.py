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
message (``responses.py``); the documents are built in ``documents.py``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from barecloud.lab.machine import Machine
from barecloud.lab.redfish.documents import (
    BOOT_ENABLED,
    BOOT_MODES,
    BOOT_TARGETS,
    RESET_TYPES,
    STATUS_OK,
    V1,
    chassis,
    collection,
    manager,
    ref,
    system,
    system_part,
)
from barecloud.lab.redfish.responses import (
    etag_of,
    json_response,
    not_found,
    read_body,
    redfish_error,
    unauthorized,
)

SESSION_TIMEOUT = 1800.0


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


async def _hang(request: Request) -> None:
    """Wait, without answering, until the client gives up (``unreachable``)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


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
            return not_found(request.url.path)
        if machine.unreachable:
            await _hang(request)
            return Response(status_code=504)  # never reaches the client: it is gone
        if machine.delay > 0:
            await asyncio.sleep(machine.delay)
        if not self._allowed(machine, self._credentials(request)):
            return unauthorized(request.url.path)
        return machine

    # --- service root and sessions

    async def versions(self, request: Request) -> Response:
        return json_response({"v1": f"{V1}/"})

    async def root(self, request: Request) -> Response:
        return json_response({
            "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
            "@odata.id": V1,
            "Id": "RootService",
            "Name": "barecloud lab Redfish service",
            "RedfishVersion": "1.11.0",
            "UUID": str(self.service_uuid),
            "Vendor": "barecloud",
            "Product": "barecloud lab",
            "Systems": ref(f"{V1}/Systems"),
            "Chassis": ref(f"{V1}/Chassis"),
            "Managers": ref(f"{V1}/Managers"),
            "SessionService": ref(f"{V1}/SessionService"),
            "Links": {"Sessions": ref(f"{V1}/SessionService/Sessions")},
        })  # fmt: skip

    async def session_service(self, request: Request) -> Response:
        if not self._visible(self._credentials(request)):
            return unauthorized(request.url.path)
        return json_response({
            "@odata.type": "#SessionService.v1_1_8.SessionService",
            "@odata.id": f"{V1}/SessionService",
            "Id": "SessionService",
            "Name": "Session Service",
            "ServiceEnabled": True,
            "SessionTimeout": int(SESSION_TIMEOUT),
            "Sessions": ref(f"{V1}/SessionService/Sessions"),
            "Status": STATUS_OK,
        })  # fmt: skip

    async def sessions_list(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._login(request)
        creds = self._credentials(request)
        if not self._visible(creds):
            return unauthorized(request.url.path)
        assert creds is not None
        mine = [s.id for s in self.sessions.values() if s.username == creds[0]]
        path = f"{V1}/SessionService/Sessions"
        members = [f"{path}/{sid}" for sid in mine]
        return json_response(collection(path, "Session", "Session Collection", members))

    async def _login(self, request: Request) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        user, password = body.get("UserName"), body.get("Password")
        if not isinstance(user, str) or not isinstance(password, str):
            return redfish_error(400, "PropertyMissing", "UserName and Password are required.",
                                 "UserName")  # fmt: skip
        if not self._visible((user, password)):
            return unauthorized(request.url.path)
        session = _Session(secrets.token_hex(8), secrets.token_urlsafe(24), user, password,
                           time.monotonic())  # fmt: skip
        self.sessions[session.id] = session
        path = f"{V1}/SessionService/Sessions/{session.id}"
        rsp = json_response(self._session_doc(session), 201)
        rsp.headers["X-Auth-Token"] = session.token
        rsp.headers["Location"] = path
        return rsp

    async def session(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["sid"])
        creds = self._credentials(request)
        if not self._visible(creds):
            return unauthorized(request.url.path)
        assert creds is not None
        if session is None or session.username != creds[0]:
            return not_found(request.url.path)
        if request.method == "DELETE":
            del self.sessions[session.id]
            return Response(status_code=204)
        return json_response(self._session_doc(session))

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
            return not_found(request.url.path)
        visible = self._visible(self._credentials(request))
        if not visible:
            return unauthorized(request.url.path)
        schema = {"Systems": "ComputerSystem", "Chassis": "Chassis", "Managers": "Manager"}[kind]
        members = [f"{V1}/{kind}/{m.name}" for m in visible]
        return json_response(collection(f"{V1}/{kind}", schema, f"{schema} Collection", members))

    async def member(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind not in ("Systems", "Chassis", "Managers"):
            return not_found(request.url.path)
        machine = await self._machine(request)
        if isinstance(machine, Response):
            return machine
        if kind == "Chassis":
            return json_response(chassis(machine))
        if kind == "Managers":
            return json_response(manager(machine))
        if request.method == "PATCH":
            return await self._patch_system(request, machine)
        return json_response(system(machine), etag=True)

    async def system_part(self, request: Request) -> Response:
        machine = await self._machine(request)
        if isinstance(machine, Response):
            return machine
        doc = system_part(machine, request.path_params["part"])
        return json_response(doc) if doc is not None else not_found(request.url.path)

    async def reset(self, request: Request) -> Response:
        machine = await self._machine(request)
        if isinstance(machine, Response):
            return machine
        body = await read_body(request)
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
        current = etag_of(json.dumps(system(machine), separators=(",", ":")).encode())
        if_match = request.headers.get("if-match")
        if if_match is not None and if_match.strip() not in ("*", current):
            return redfish_error(
                412, "PreconditionFailed",
                "The ETag supplied did not match the ETag required to change this resource.",
            )  # fmt: skip
        body = await read_body(request)
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
        return json_response(system(machine), etag=True)


