"""Query strings and links as Neutron reads and writes them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from barecloud.api.common import base_url
from barecloud.services.network.common import ListQuery, Page


def root(request: Request) -> str:
    return f"{base_url(request)}/network/v2.0"


def list_query(request: Request) -> ListQuery:
    return ListQuery.parse(request.query_params.multi_items())


def fields(request: Request) -> list[str]:
    """``fields``, as the handler's ``@accepts(query=...)`` declared it (a list)."""
    return [f for f in request.state.query.get("fields", []) if f]


def only(body: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """``fields=a&fields=b``: just those attributes (unknown names are ignored)."""
    return {k: v for k, v in body.items() if k in wanted} if wanted else body


def links(request: Request, collection: str, found: Page, query: ListQuery
          ) -> list[dict[str, str]]:
    """``<collection>_links``: ``next`` after a full page, ``previous`` after a marker."""
    if not query.limit or not found.items:
        return []
    kept = [(k, v) for k, v in request.query_params.multi_items()
            if k not in ("marker", "page_reverse")]
    out = []
    if found.more:
        out.append({"rel": "next", "href": f"{root(request)}/{collection}?" + urlencode(
            [*kept, ("marker", found.items[-1].id)])})
    if query.marker:
        out.append({"rel": "previous", "href": f"{root(request)}/{collection}?" + urlencode(
            [*kept, ("marker", found.items[0].id), ("page_reverse", "True")])})
    return out
