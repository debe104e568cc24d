"""The browser's files, served from this process under /ui/ (no CDN: it works offline).

``/ui/`` is the web UI (``web/``: plain ES modules, no build step,
docs/design/web-ui.md): just another API client, calling the OpenStack
APIs with the user's token.  ``/ui/novnc/`` is noVNC's ``vnc_lite.html`` and
the modules it imports (vendored unchanged, ``novnc/VENDORED.md``), the page
a VM's ``novnc`` console URL opens (services/compute/remote_consoles.py).
The files are public, as Horizon's and Nova's noVNC proxy's are: a token is
what opens anything behind them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

NOVNC = Path(__file__).parent / "novnc"
WEB = Path(__file__).parent / "web"
PREFIX = "/ui/"



def _inline_scripts(page: Path) -> str:
    """The CSP hashes of a page's inline scripts (the UI's import map is one)."""
    bodies = re.findall(r"<script[^>]*>(.*?)</script>", page.read_text(), flags=re.S)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
        for b in bodies if b.strip())


def policy(page: Path) -> str:
    """The pages load only this origin's files and talk only to this origin (the
    APIs, the console websockets); no page may frame them but this origin's own."""
    return (f"default-src 'self'; script-src 'self' {_inline_scripts(page)}; "
            "connect-src 'self' ws: wss:; img-src 'self' data:; "
            "style-src 'self' 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; "
            "form-action 'self'")


class _Files(StaticFiles):
    """Static files with the UI's security headers (``page``: the one HTML page whose
    inline scripts the policy allows)."""

    def __init__(self, *, directory: Path, page: str, html: bool = False) -> None:
        super().__init__(directory=directory, html=html)
        self.policy = policy(directory / page).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", self.policy),
                            (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Mount the files (``GET`` and ``HEAD`` only; a missing file is a 404)."""
    app.mount(PREFIX + "novnc", _Files(directory=NOVNC, page="vnc_lite.html"), name="novnc")
    app.mount(PREFIX.rstrip("/"), _Files(directory=WEB, page="index.html", html=True), name="ui")

    @app.get("/ui", include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse(PREFIX)
