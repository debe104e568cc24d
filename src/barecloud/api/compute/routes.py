"""Every Compute router, mounted at /compute/v2.1 and at the legacy /compute/v2."""

from __future__ import annotations

from fastapi import FastAPI

from barecloud.api.compute import (
    actions,
    aggregates,
    compute_services,
    extensions,
    external_events,
    flavors,
    host_agent,
    hosts,
    hypervisor_hosts,
    images,
    instance_actions,
    instance_groups,
    keypairs,
    migrations,
    network_proxies,
    quotas,
    root,
    security_groups,
    server_extras,
    server_ips,
    server_metadata,
    server_tags,
    servers,
    usage,
    usage_audit_log,
)

ROUTERS = (servers.router, actions.router, flavors.router, keypairs.router, quotas.router,
           hosts.router, hypervisor_hosts.router, aggregates.router, server_ips.router,
           server_metadata.router, server_tags.router, instance_actions.router,
           instance_groups.router, compute_services.router,
           usage.router, server_extras.router, images.router, security_groups.router,
           network_proxies.router, extensions.router,
           usage_audit_log.router, migrations.router, external_events.router)
PREFIXES = ("/compute/v2.1", "/compute/v2")


def install(app: FastAPI) -> None:
    app.include_router(root.router)
    app.include_router(host_agent.router)
    for prefix in PREFIXES:
        for router in ROUTERS:
            app.include_router(router, prefix=prefix)
