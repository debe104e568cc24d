"""Compute's ``@accepts``: Nova's declarations, Nova's words, and the declarations
that change with the microversion (``by_version``)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request

from barecloud.api.accepts import ATTRIBUTE, Accepts, Inputs
from barecloud.api.compute import params
from barecloud.services.compute import schemas
from barecloud.services.compute.schemas import Versioned
from barecloud.services.validation import Checker

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

accepts = Inputs(schemas.wording)


def request_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Request:
    """The request among a handler's arguments."""
    request = kwargs.get("request")
    if isinstance(request, Request):
        return request
    return next(a for a in args if isinstance(a, Request))


def by_version(*, body: Versioned | None = None, query: Versioned | None = None,
               body_required: bool = True) -> Callable[[F], F]:
    """``@accepts`` for declarations that depend on the microversion, as Nova's
    ``@validation.schema(..., min_version, max_version)``: a request is checked
    against its version's declaration; /openapi.json shows every version's keys."""

    def checker(versioned: Versioned | None, version: params.V | None) -> Checker | None:
        if versioned is None:
            return None
        if version is None:
            return Checker(versioned.published, schemas.wording)
        return versioned.checker(version)

    published = Accepts(body=checker(body, None), query=checker(query, None),
                        body_required=body_required, content_type="application/json")

    def decorate(handler: F) -> F:
        @functools.wraps(handler)
        async def checked(*args: Any, **kwargs: Any) -> Any:
            request = request_of(args, kwargs)
            version = params.version(request)
            spec = Accepts(body=checker(body, version), query=checker(query, version),
                           body_required=body_required, content_type="application/json")
            await spec.check(request)
            return await handler(*args, **kwargs)

        setattr(checked, ATTRIBUTE, published)
        return checked  # type: ignore[return-value]

    return decorate
