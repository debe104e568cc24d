"""Swagger UI at /docs, served from this process: no CDN, so it works offline.

FastAPI's page loads swagger-ui from jsdelivr; ours points at the copy the
``swagger-ui-bundle`` package ships, served under /docs/static/ (a fixed
list of files, nothing else of the package's directory).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from barecloud.errors import NotFound

router = APIRouter(include_in_schema=False)

STATIC = "/docs/static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title="barecloud API",
        swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC}/favicon-32x32.png")


@router.get(STATIC + "/{name}")
async def asset(name: str) -> FileResponse:
    media = ASSETS.get(name)
    if media is None:
        raise NotFound(f"No such documentation asset: {name[:64]!r}.")
    return FileResponse(Path(swagger_ui_path) / name, media_type=media)
