"""Migration 0021_baremetal: deploy templates, volume connectors and targets, port groups as the
models declare them, with ports.portgroup_id; one template per name."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from barecloud.db.models import DeployTemplate
from barecloud.db.session import Database
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    tables = {"nodes", "chassis", "ports", "portgroups", "deploy_templates", "volume_connectors",
              "volume_targets"}
    assert await differences(database, tables) == []


async def test_one_template_per_name(database: Database) -> None:
    """Two processes creating the same name: the database refuses the second."""
    async with database.session() as s:
        s.add(DeployTemplate(name="CUSTOM_A", steps=[], extra={}))
    with pytest.raises(IntegrityError):
        async with database.session() as s:
            s.add(DeployTemplate(name="CUSTOM_A", steps=[], extra={}))
