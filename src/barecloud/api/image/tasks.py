"""/image/v2/tasks and /image/v2/images/{id}/tasks: the records of image imports."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.image.inputs import accepts
from barecloud.api.image.render import isotime
from barecloud.db.models import ImageTask
from barecloud.services.image import schemas, tasks

router = declared.router(prefix="/image/v2")

SUMMARY = ("id", "type", "status", "owner", "expires_at", "created_at", "updated_at",
           "self", "schema")


def task(t: ImageTask) -> dict[str, Any]:
    return {
        "id": t.uuid, "type": t.type, "status": t.status, "input": t.input,
        "result": t.result, "owner": t.owner, "message": t.message or "",
        "image_id": t.image_id, "request_id": t.request_id, "user_id": t.user_id,
        "expires_at": isotime(t.expires_at), "created_at": isotime(t.created_at),
        "updated_at": isotime(t.updated_at or t.created_at),
        "self": f"/v2/tasks/{t.uuid}", "schema": "/v2/schemas/task",
    }


@router.get("/tasks")
@accepts(query=schemas.LIST_TASKS_QUERY)
async def list_tasks(request: Request) -> JSONResponse:
    found = await tasks.list_tasks(runtime(request), context(request), request.state.query)
    return JSONResponse({"tasks": [{k: v for k, v in task(t).items() if k in SUMMARY}
                                   for t in found],
                         "first": "/v2/tasks", "schema": "/v2/schemas/tasks"})


@router.post("/tasks", status_code=201)
@accepts(body=schemas.CREATE_TASK)
async def create_task(request: Request) -> JSONResponse:
    tasks.create(context(request), request.state.body)  # refused: tasks.py says why


@router.get("/tasks/{task_id}")
@accepts()
async def show_task(task_id: str, request: Request) -> JSONResponse:
    return JSONResponse(task(await tasks.get(runtime(request), context(request), task_id)))


@router.get("/images/{image_id}/tasks")
@accepts()
async def image_tasks(image_id: str, request: Request) -> JSONResponse:
    found = await tasks.of_image(runtime(request), context(request), image_id)
    return JSONResponse({"tasks": [task(t) for t in found]})


_TASK_SCHEMA: dict[str, Any] = {
    "name": "task",
    "properties": {
        "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-"
                                            "([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-"
                                            "([0-9a-fA-F]){12}$"},
        "type": {"type": "string", "enum": list(tasks.TYPES)},
        "status": {"type": "string",
                   "enum": ["pending", "processing", "success", "failure"]},
        "input": {"type": "object"}, "result": {"type": ["null", "object"]},
        "owner": {"type": ["null", "string"]}, "message": {"type": "string"},
        "image_id": {"type": ["null", "string"]}, "request_id": {"type": ["null", "string"]},
        "user_id": {"type": ["null", "string"]},
        "expires_at": {"type": ["null", "string"]}, "created_at": {"type": "string"},
        "updated_at": {"type": "string"}, "self": {"type": "string"},
        "schema": {"type": "string"},
    },
}


@router.get("/schemas/task")
@accepts()
async def task_schema(request: Request) -> JSONResponse:
    return JSONResponse(_TASK_SCHEMA)


@router.get("/schemas/tasks")
@accepts()
async def tasks_schema(request: Request) -> JSONResponse:
    return JSONResponse({
        "name": "tasks",
        "properties": {"tasks": {"type": "array", "items": _TASK_SCHEMA},
                       "first": {"type": "string"}, "next": {"type": "string"},
                       "schema": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]})
