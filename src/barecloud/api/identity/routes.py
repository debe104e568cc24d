"""Every router of the Identity API, in the order they are matched."""

from __future__ import annotations

from fastapi import APIRouter

from barecloud.api.identity import (
    app_credentials,
    catalog,
    credentials,
    domain_configs,
    domains,
    endpoint_groups,
    grants,
    groups,
    oauth_consumers,
    projects,
    roles,
    root,
    tokens,
    users,
)

ROUTERS: tuple[APIRouter, ...] = tuple(m.router for m in (
    root, tokens, grants, domain_configs, domains, projects, users, groups, app_credentials, roles,
    catalog, credentials, endpoint_groups, oauth_consumers))
