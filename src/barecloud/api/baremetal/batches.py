"""/v1/barecloud-deploy-batches: one image to many nodes, and its per-machine report.

barecloud's own resource (Ironic has none): the name says so, as the
Reservation API's ``barecloud-calendar`` does.
"""

from __future__ import annotations

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.baremetal.render import deploy_batch
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.services.baremetal import batches as deploy_batches
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1")


@router.post("/barecloud-deploy-batches", status_code=202)
@accepts(body=bm.DEPLOY_BATCH)
async def create_batch(request: Request) -> JSONResponse:
    batch = await deploy_batches.create(runtime(request), context(request),
                                        request.state.body)
    return JSONResponse(deploy_batch(batch), status_code=202)


@router.get("/barecloud-deploy-batches")
@accepts()
async def list_batches(request: Request) -> JSONResponse:
    rows = await deploy_batches.list_batches(runtime(request), context(request))
    return JSONResponse({"deploy_batches": [deploy_batch(r) for r in rows]})


@router.get("/barecloud-deploy-batches/{ref}")
@accepts()
async def show_batch(ref: str, request: Request) -> JSONResponse:
    report = await deploy_batches.get(runtime(request), context(request), ref)
    return JSONResponse(deploy_batch(report))
