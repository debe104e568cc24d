"""The workload: deploys, undeploys and power actions through the Bare Metal API.

Workers pick a node at random (of the busy ones), read its state, and ask
for what makes sense from there: deploy an available node (with an image
URL no other deploy uses, so the fake agents' ledger and the lab disk say
which deploy wrote what), undeploy or power-cycle an active one, undeploy a
node waiting for its agent mid-deploy, redeploy or undeploy a failed one,
bring a clean-failed one back.  Every answer is kept (Jepsen's history):
202 is accepted; 400/404/409/503 are refusals the API may give; any other
5xx is a bug; a connection error or time-out (an API process killed under
the request) leaves the outcome unknown.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.cluster import BM

FINE = {400, 404, 409, 503}
HASH = "ab" * 32


@dataclass
class Op:
    t0: float
    t1: float
    node: str  # uuid
    op: str
    status: int | None  # None: unknown (connection error, time-out)
    api: str
    image: str | None = None
    detail: str = ""


def image_url(name: str, n: int) -> str:
    return f"http://127.0.0.1:9/images/{name}-{n}.raw"


@dataclass
class Workload:
    apis: list[str]
    nodes: list[dict[str, Any]]  # busy nodes: {"name", "uuid"}
    rng: random.Random
    workers: int = 6
    ops: list[Op] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    acting: set[str] = field(default_factory=set)

    def statuses(self) -> Counter[str]:
        return Counter(f"{o.op} {o.status if o.status is not None else 'unknown'}"
                       for o in self.ops)

    def server_errors(self) -> list[Op]:
        return [o for o in self.ops if o.status is not None and o.status >= 500
                and o.status not in FINE]

    def accepted(self) -> list[Op]:
        return [o for o in self.ops if o.status == 202]

    async def run(self, stop: asyncio.Event) -> None:
        clients = [httpx.AsyncClient(base_url=f"{u}/baremetal/v1", headers=BM, timeout=30.0)
                   for u in self.apis]
        try:
            await asyncio.gather(*(self._worker(clients, stop) for _ in range(self.workers)))
        finally:
            for c in clients:
                await c.aclose()

    async def _call(self, clients: list[httpx.AsyncClient], node: str, op: str, method: str,
                    url: str, body: Any = None, image: str | None = None,
                    params: dict[str, str] | None = None) -> tuple[Op, Any]:
        c = self.rng.choice(clients)
        t0 = time.time()
        answer: Any = None
        try:
            rsp = await c.request(method, url, json=body, params=params)
            status: int | None = rsp.status_code
            detail = rsp.text[:300] if rsp.status_code >= 300 else ""
            if rsp.status_code == 200 and method == "GET":
                answer = rsp.json()
        except httpx.HTTPError as exc:
            status, detail = None, repr(exc)[:300]
        except ValueError:
            status, detail = 599, "not JSON"
        o = Op(t0, time.time(), node, op, status, str(c.base_url), image, detail)
        if op != "get":
            self.ops.append(o)
        elif status is not None and status >= 500 and status not in FINE:
            self.ops.append(o)  # a read that failed on the server is a bug too
        return o, answer

    async def _worker(self, clients: list[httpx.AsyncClient], stop: asyncio.Event) -> None:
        while not stop.is_set():
            # One worker per node at a time: a node's PATCH and deploy are one
            # act, so the image a deploy asked for is known.
            free = [n for n in self.nodes if n["uuid"] not in self.acting]
            if not free:
                await asyncio.sleep(0.2)
                continue
            node = self.rng.choice(free)
            self.acting.add(node["uuid"])
            try:
                await self._step(clients, node)
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            finally:
                self.acting.discard(node["uuid"])
            await asyncio.sleep(self.rng.uniform(0.1, 0.6))

    async def _step(self, clients: list[httpx.AsyncClient], node: dict[str, Any]) -> None:
        u = node["uuid"]
        _, got = await self._call(clients, u, "get", "GET", f"/nodes/{u}",
                                  params={"fields": "provision_state,power_state"})
        if not isinstance(got, dict):
            return
        state = got["provision_state"]
        roll = self.rng.random()
        if state in ("available", "deploy failed") and (state == "available" or roll < 0.6):
            await self._deploy(clients, node)
        elif state in ("active", "deploy failed", "error"):
            if state == "active" and roll < 0.35:
                target = self.rng.choice(["rebooting", "power off", "power on"])
                await self._call(clients, u, f"power {target}", "PUT",
                                 f"/nodes/{u}/states/power", {"target": target})
            else:
                await self._provision(clients, u, "deleted")
        elif state == "wait call-back" and roll < 0.1:
            await self._provision(clients, u, "deleted")  # undeploy mid-deploy
        elif state == "clean failed":
            await self._provision(clients, u, "manage")
        elif state == "manageable":
            await self._provision(clients, u, "provide")
        elif state == "enroll":
            await self._provision(clients, u, "manage")

    async def _provision(self, clients: list[httpx.AsyncClient], u: str, target: str,
                         image: str | None = None) -> Op:
        o, _ = await self._call(clients, u, target, "PUT", f"/nodes/{u}/states/provision",
                                {"target": target}, image)
        return o

    async def _deploy(self, clients: list[httpx.AsyncClient], node: dict[str, Any]) -> None:
        u = node["uuid"]
        url = image_url(node["name"], next(self.counter))
        patch = [{"op": "add", "path": f"/instance_info/{k}", "value": v} for k, v in {
            "image_source": url, "image_os_hash_algo": "sha256", "image_os_hash_value": HASH,
            "image_size": 1 << 30}.items()]
        o, _ = await self._call(clients, u, "set image", "PATCH", f"/nodes/{u}", patch, url)
        if o.status != 200:
            return
        await self._provision(clients, u, "active", url)
