"""The browser's files, served from this process under /ui/ (no CDN: it works offline).

Now: noVNC's ``vnc_lite.html`` and the modules it imports, under
``/ui/novnc/`` (vendored unchanged, ``novnc/VENDORED.md``), the page a VM's
``novnc`` console URL opens (services/compute/remote_consoles.py); its
websocket is ``/console/vnc`` (api/consoles.py).  The files are public, as
Nova's noVNC proxy serves them: the token in the page's URL is what opens a
console.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

NOVNC = Path(__file__).parent / "novnc"
PREFIX = "/ui/"


def install(app: FastAPI) -> None:
    """Mount the files (``GET`` and ``HEAD`` only; a missing file is a 404)."""
    app.mount(PREFIX + "novnc", StaticFiles(directory=NOVNC), name="novnc")
