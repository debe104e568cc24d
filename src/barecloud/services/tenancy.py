"""Whose a Compute resource is: the project and user a request acts for.

Under ``noauth`` a request has neither (it is the admin of NOAUTH_PROJECT);
Compute rows still need both, so they fall back to fixed ids.
"""

from __future__ import annotations

from barecloud.services.context import NOAUTH_PROJECT, RequestContext

# The user every noauth request acts as ("noauthuser" in hex, like NOAUTH_PROJECT).
NOAUTH_USER = "6e6f6175746875736572"

__all__ = ["NOAUTH_PROJECT", "NOAUTH_USER", "project_of", "service_context", "user_of"]


def project_of(ctx: RequestContext) -> str:
    return ctx.project or NOAUTH_PROJECT


def user_of(ctx: RequestContext) -> str:
    return ctx.user or NOAUTH_USER


def service_context(request_id: str) -> RequestContext:
    """barecloud acting for the operator (the scheduler, the reconciler): admin roles."""
    return RequestContext(request_id=request_id)
