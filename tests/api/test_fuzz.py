"""Every operation of /openapi.json, fuzzed with schemathesis from its declared body and
query parameters, as the cloud's admin and as a project member: no answer is a 5xx,
every 4xx is in the error format of the OpenStack service the path belongs to, and no
request hangs.

Examples are drawn with a fixed seed (reproducible), a bounded number per operation
and generation mode (``BARECLOUD_FUZZ_EXAMPLES``, 4 by default, which keeps CI
under its budget; more for a deeper run): valid input from the declarations, and
invalid input (wrong types, missing required fields, values out of range) that
must be refused with a 4xx.  Each example is sent as both roles.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests import support

pytestmark = pytest.mark.slow

# Glance's JSON-patch media type is JSON.
schemathesis.serializer.alias("application/openstack-images-v2.1-json-patch", "application/json")

EXAMPLES = int(os.environ.get("BARECLOUD_FUZZ_EXAMPLES", "4"))
TIMEOUT = 20.0
SEED = 17


def designed_501(path: str) -> bool:
    """Nova's Ironic driver's answers: a node's uptime, a host's update and power."""
    return path.endswith("/uptime") or "/os-hosts/{" in path


def _nova(body: Any, status: int) -> bool:
    return (isinstance(body, dict) and len(body) == 1 and
            isinstance(fault := next(iter(body.values())), dict) and
            fault.get("code") == status and isinstance(fault.get("message"), str))


def _keystone(body: Any, status: int) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (isinstance(error, dict) and error.get("code") == status and
            isinstance(error.get("message"), str) and isinstance(error.get("title"), str))


def _glance(body: Any, status: int) -> bool:
    return (isinstance(body, dict) and isinstance(body.get("message"), str) and
            str(body.get("code", "")).startswith(str(status)))


def _neutron(body: Any, status: int) -> bool:
    error = body.get("NeutronError") if isinstance(body, dict) else None
    return (isinstance(error, dict) and isinstance(error.get("type"), str) and
            isinstance(error.get("message"), str))


def _blazar(body: Any, status: int) -> bool:
    return (isinstance(body, dict) and body.get("error_code") == status and
            isinstance(body.get("error_message"), str))


def _ironic(body: Any, status: int) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("error_message"), str):
        return False
    fault = json.loads(body["error_message"])
    return isinstance(fault, dict) and isinstance(fault.get("faultstring"), str)


FORMATS = {"compute": _nova, "identity": _keystone, "image": _glance, "network": _neutron,
           "reservation": _blazar}


def in_service_format(path: str, status: int, body: Any) -> bool:
    check = FORMATS.get(path.split("/", 2)[1], _ironic)
    return check(body, status)


@dataclass
class Findings:
    requests: int = 0
    operations: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def judge(self, case: schemathesis.Case, role: str, status: int, body: Any) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        where = f"{role}: {case.method} {case.formatted_path} {case.query or ''}"
        if status >= 500 and not (status == 501 and designed_501(case.path)):
            # a 501 is a designed answer (Nova's Ironic driver's: a node's uptime, a
            # host's update and power actions), not a fault
            self.problems.append(f"{where} -> {status} {str(body)[:300]}")
        elif status >= 400 and case.method != "HEAD" and not in_service_format(
                case.path, status, body):  # a HEAD answer has no body
            self.problems.append(f"{where} -> {status} not in the service's format: "
                                 f"{str(body)[:300]}")


Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def _fuzz(operation: Operation, mode: GenerationMode, url: str, roles: dict[str, str],
          found: Findings) -> None:
    """Each example goes to the service once per role: drawing it is most of the
    test's CPU, so the roles share the draws."""
    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        for role, token in roles.items():
            try:
                response = case.call(base_url=url, headers={"X-Auth-Token": token},
                                     timeout=TIMEOUT)
            except requests.Timeout:
                found.problems.append(f"{role}: {case.method} {case.formatted_path}: no "
                                      f"answer in {TIMEOUT:.0f} s")
                continue
            try:
                body = response.json()
            except ValueError:
                body = response.text
            found.judge(case, role, response.status_code, body)

    with contextlib.suppress(Unsatisfiable):  # no invalid input to make: it takes none
        run()


def _modes(operation: Operation) -> tuple[GenerationMode, ...]:
    """Invalid input only where there is a declaration to break: a body or a query
    parameter (a path segment is any text, so there is no invalid one to make)."""
    definition = operation.definition.raw
    takes = "requestBody" in definition or any(
        p.get("in") == "query" for p in definition.get("parameters", []))
    return ((GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes
            else (GenerationMode.POSITIVE,))


def test_every_operation_survives_fuzzing_as_admin_and_as_member(
        keystone_service: support.Service) -> None:
    url = keystone_service.url
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    undeclared = [f"{method.upper()} {path}" for path, item in document["paths"].items()
                  for method, operation in item.items()
                  if not operation.get("x-barecloud-declared")]
    assert not undeclared, f"operations with no input declaration: {undeclared}"
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    roles = {"admin": keystone_service.token("barecloud-admin"),
             "member": keystone_service.token("barecloud")}
    found = Findings()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        found.operations += 1
        for mode in _modes(operation):
            _fuzz(operation, mode, url, roles, found)
    print(f"\nfuzzed {found.operations} operations with {found.requests} requests; "
          f"statuses {dict(sorted(found.statuses.items()))}")
    assert found.operations > 200
    assert not found.problems, "\n".join(found.problems[:60])
    # The service is still whole afterwards.
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
