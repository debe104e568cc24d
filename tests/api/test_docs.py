"""/docs works offline: its page loads nothing but this service's own URLs."""

from __future__ import annotations

import re

import httpx

from tests import support


def test_docs_load_only_same_origin_assets(keystone_service: support.Service) -> None:
    url = keystone_service.url
    page = httpx.get(f"{url}/docs", timeout=10)  # a browser has no token
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "://" not in html, html  # no CDN, no absolute URL of any host
    refs = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
    assert {"/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css",
            "/openapi.json"} <= set(refs), refs
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
        rsp = httpx.get(f"{url}{ref}", timeout=10)
        assert rsp.status_code == 200, (ref, rsp.status_code)
        assert rsp.content
    bundle = httpx.get(f"{url}/docs/static/swagger-ui-bundle.js", timeout=10)
    assert "SwaggerUIBundle" in bundle.text
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert "/baremetal/v1/nodes" in httpx.get(f"{url}/openapi.json", timeout=10).json()["paths"]
    # Only the listed assets: nothing else of the package's directory, no traversal.
    for other in ("index.html", "swagger-initializer.js", "..%2F..%2F__init__.py"):
        assert httpx.get(f"{url}/docs/static/{other}", timeout=10).status_code == 404, other
