"""/os-migrations: the servers' moves (a VM's resizes), as Nova lists them to admins."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params, render
from barecloud.api.compute.inputs import by_version
from barecloud.services.compute import migrations, queries, schemas

router = declared.router()
TYPED, PAGES, CHANGES_BEFORE, OWNERS = (2, 23), (2, 59), (2, 66), (2, 80)
FILTERS = ("instance_uuid", "source_compute", "status", "migration_type")


def _view(request: Request, m: migrations.Listed) -> dict[str, Any]:
    v, row = params.version(request), m.row
    body: dict[str, Any] = {
        "id": row.id, "status": m.status, "instance_uuid": row.server_uuid,
        # A VM's host is its own node (Nova's libvirt driver names both alike).
        "source_node": row.source_compute, "source_compute": row.source_compute,
        "dest_node": row.dest_compute, "dest_compute": row.dest_compute,
        "dest_host": row.dest_compute, "old_instance_type_id": row.old_flavor_id,
        "new_instance_type_id": row.new_flavor_id,
        "created_at": render.iso(row.created_at), "updated_at": render.iso(row.updated_at)}
    if v >= TYPED:
        body["migration_type"] = row.migration_type  # links: live migrations only
    if v >= PAGES:
        body["uuid"] = row.uuid
    if v >= OWNERS:
        body.update(user_id=row.user_id, project_id=row.project_id)
    return body


def _query(request: Request) -> migrations.MigrationQuery:
    v, q = params.version(request), params.query(request)
    names = FILTERS + (("user_id", "project_id") if v >= OWNERS else ())
    filters = {("server_uuid" if n == "instance_uuid" else n): str(q[n])
               for n in names if n in q}
    query = migrations.MigrationQuery(filters=filters, host=q.get("host"))
    if v >= PAGES:
        query.limit, query.marker = params.limit(request), q.get("marker")
        if "changes-since" in q:
            query.changes_since = queries.parse_time("changes-since", q["changes-since"])
        if "changes-before" in q and v >= CHANGES_BEFORE:
            query.changes_before = queries.parse_time("changes-before", q["changes-before"])
    return query


@router.get("/os-migrations")
@by_version(query=schemas.MIGRATIONS_QUERY)
async def list_migrations(request: Request) -> JSONResponse:
    rt, query = runtime(request), _query(request)
    found = await migrations.list_migrations(rt, context(request), query)
    body: dict[str, Any] = {"migrations": [_view(request, m) for m in found]}
    if params.version(request) >= PAGES:
        more = params.next_links(request, "os-migrations", found,
                                 found[-1].row.uuid if found else "", query.limit,
                                 rt.settings.api_max_limit)
        if more:
            body["migrations_links"] = more
    return JSONResponse(body)
