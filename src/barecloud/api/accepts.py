"""``@accepts``: a handler's input, declared once, checked before it runs and
published in /openapi.json.

The declaration is JSON Schema from the service's ``schemas.py``
(services/validation.py says why JSON Schema).  The checked body and query
document are left on ``request.state`` (``body``, ``query``), so a handler reads
what was checked, not the raw request again.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

from barecloud.api.common import json_body
from barecloud.services.validation import Checker, Schema, Wording, query_document

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
# How a service reads a JSON body (its own words for an empty or malformed one).
BodyReader = Callable[[Request], Awaitable[Any]]
ATTRIBUTE = "__barecloud_accepts__"
# Marks an operation in /openapi.json whose input is declared (tests check all are).
DECLARED = "x-barecloud-declared"


@dataclass(frozen=True)
class Accepts:
    """What one operation takes: a JSON body, a query string, or neither."""

    body: Checker | None
    query: Checker | None
    body_required: bool
    content_type: str
    read: BodyReader = json_body

    @property
    def json(self) -> bool:
        """A JSON body (``application/json``, Glance's JSON-patch types) is checked;
        another (an image's octets) is only declared, and left for the handler to stream."""
        return "json" in self.content_type

    async def check(self, request: Request) -> None:
        if self.query is not None:
            doc = query_document(request.query_params.multi_items(), self.query.schema)
            request.state.query = self.query.check(doc, "query")
        if self.body is not None and self.json:
            raw = await request.body()
            if raw or self.body_required:
                request.state.body = self.body.check(await self.read(request), "body")
            else:
                request.state.body = None


class Inputs:
    """One service's ``@accepts``: its declarations, worded as that service words
    errors (and, if it says them differently from ``common.json_body``, reads bodies)."""

    def __init__(self, wording: Wording, read: BodyReader = json_body) -> None:
        self.wording = wording
        self.read = read

    def __call__(self, *, body: Schema | None = None, query: Schema | None = None,
                 body_required: bool = True,
                 content_type: str = "application/json") -> Callable[[F], F]:
        spec = Accepts(body=Checker(body, self.wording) if body is not None else None,
                       query=Checker(query, self.wording) if query is not None else None,
                       body_required=body_required, content_type=content_type,
                       read=self.read)

        def decorate(handler: F) -> F:
            @functools.wraps(handler)
            async def checked(*args: Any, **kwargs: Any) -> Any:
                request = kwargs.get("request")
                if not isinstance(request, Request):
                    request = next(a for a in args if isinstance(a, Request))
                await spec.check(request)
                return await handler(*args, **kwargs)

            setattr(checked, ATTRIBUTE, spec)
            return checked  # type: ignore[return-value]

        return decorate


def declared(handler: Callable[..., Any]) -> Accepts | None:
    spec: Accepts | None = getattr(handler, ATTRIBUTE, None)
    return spec


def _openapi(spec: Accepts) -> dict[str, Any]:
    """The operation's body and query parameters, for FastAPI to merge into the
    operation it documents (``openapi_extra``; lists are appended)."""
    extra: dict[str, Any] = {DECLARED: True}
    if spec.body is not None:
        extra["requestBody"] = {"required": spec.body_required,
                                "content": {spec.content_type: {"schema": spec.body.schema}}}
    if spec.query is not None:
        schema = spec.query.schema
        required = set(schema.get("required", ()))
        extra["parameters"] = [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in schema.get("properties", {}).items()]
    return extra


class DeclaredRoute(APIRoute):
    """A route whose OpenAPI operation shows what ``@accepts`` declared."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        spec = declared(endpoint)
        if spec is not None:
            kwargs["openapi_extra"] = {**(kwargs.get("openapi_extra") or {}), **_openapi(spec)}
        super().__init__(path, endpoint, **kwargs)


def router(**kwargs: Any) -> APIRouter:
    """An ``APIRouter`` whose routes publish their declarations: every API module's."""
    return APIRouter(route_class=DeclaredRoute, **kwargs)
