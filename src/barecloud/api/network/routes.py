"""Every Network router, and the handler that gives typed errors Neutron's ``type``."""

from __future__ import annotations

from fastapi import FastAPI, Request

from barecloud.api.auth import error_for
from barecloud.api.common import JSONResponse
from barecloud.api.network import quotas, resources, root, traffic
from barecloud.api.network.errors import error_response
from barecloud.services.network.errors import NetworkError


async def _typed(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NetworkError)
    if request.url.path.startswith("/network"):
        return error_response(exc.code, exc.message, kind=exc.neutron_type)
    return error_for(request.url.path)(exc.code, exc.message)  # another API's caller


def install(app: FastAPI) -> None:
    app.include_router(root.router)
    app.include_router(quotas.router)
    app.include_router(traffic.router)
    for router in resources.ROUTERS:
        app.include_router(router)
    app.add_exception_handler(NetworkError, _typed)
