"""The operator's endpoints: liveness, readiness and Prometheus metrics.

Served without a token (api/auth.py): a load balancer or a Prometheus server
has none.  They say nothing of any tenant: states and counts only.  With
``metrics_require_auth``, /metrics needs an admin's token.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.errors import Forbidden
from barecloud.services import health, metrics
from barecloud.services.validation import plain_wording

router = declared.router(include_in_schema=False)
# None of them reads a body or a query string.
accepts = declared.Inputs(plain_wording)


@router.get("/healthz")
@accepts()
async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers (no database: a slow one must not get us killed)."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
@accepts()
async def readyz(request: Request) -> JSONResponse:
    checks = await health.readiness(runtime(request))
    ready = all(v == health.OK for v in checks.values())
    return JSONResponse({"status": "ok" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics")
@accepts()
async def prometheus_metrics(request: Request) -> Response:
    rt = runtime(request)
    if rt.settings.metrics_require_auth and not context(request).is_admin:
        raise Forbidden("Metrics are readable by admins only (metrics_require_auth).")
    return Response(await metrics.exposition(rt), media_type=metrics.CONTENT_TYPE)
