"""Per-project limits, stored the same way by every service that has quotas.

Compute's and Network's quota tables have one shape (project_id, resource,
hard_limit); what each service counts as usage stays in its own package.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from barecloud.db.session import Database
from barecloud.errors import Conflict


async def save_limits(db: Database, model: Any, project: str, values: dict[str, int]) -> None:
    """Set ``project``'s limits in ``model``'s rows (project_id, resource, hard_limit).

    Compute's and Network's quota tables have that shape; a concurrent insert
    of the same row is read and updated on the next try.
    """
    for attempt in range(3):
        try:
            async with db.session() as s:
                rows = {q.resource: q for q in await s.scalars(
                    select(model).where(model.project_id == project))}
                for name, value in values.items():
                    if name in rows:
                        rows[name].hard_limit = value
                    else:
                        s.add(model(project_id=project, resource=name, hard_limit=value))
            return
        except IntegrityError:
            if attempt == 2:
                raise Conflict("The quotas changed meanwhile; try again.") from None
