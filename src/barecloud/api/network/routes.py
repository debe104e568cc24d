"""Every Network router, and the handler that gives typed errors Neutron's ``type``."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request

from barecloud.api.common import JSONResponse
from barecloud.api.network import agents, interfaces, quotas, resources, root, traffic
from barecloud.api.network.errors import error_response
from barecloud.services.network.errors import NetworkError

# The error body of the API a path belongs to (api/auth.py), passed in
# by the app: that module knows every API's errors, this one among them.
ErrorFor = Callable[[str], Callable[[int, str], JSONResponse]]


def install(app: FastAPI, error_for: ErrorFor) -> None:
    """The routers, and typed errors in Neutron's body (another API's caller gets its own)."""

    async def typed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NetworkError)
        if request.url.path.startswith("/network"):
            return error_response(exc.code, exc.message, kind=exc.neutron_type)
        return error_for(request.url.path)(exc.code, exc.message)  # another API's caller

    app.include_router(root.router)
    app.include_router(quotas.router)
    app.include_router(traffic.router)
    app.include_router(agents.router)
    app.include_router(interfaces.router)
    for router in resources.ROUTERS:
        app.include_router(router)
    app.add_exception_handler(NetworkError, typed)
