"""A network's DHCP server that cannot start leaves no namespace behind: no server
is kept for it, so nothing else would ever delete the ``qdhcp-`` namespace (a CI
run's service stopped while one started and left one)."""

from __future__ import annotations

import os
import uuid

import pytest

from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.errors import BarecloudError
from barecloud.lab.netns import namespaces
from barecloud.services.context import Runtime
from barecloud.services.network.agent import NetworkAgent
from barecloud.services.network.dhcp import NetworkSpec, SubnetSpec, run_ip

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")


async def test_a_start_that_fails_removes_its_namespace(
        sqlite_db: Database, settings: Settings) -> None:
    spec = NetworkSpec(network_id=str(uuid.uuid4()), port_id=str(uuid.uuid4()),
                       mac="fa:16:3e:00:00:02", addresses=("10.0.0.2/24",),
                       subnets=(SubnetSpec("s4", "10.0.0.0/24", "10.0.0.1"),))
    agent = NetworkAgent(Runtime(sqlite_db, settings))
    try:
        # The network is not in the database: deleted while its server started.
        with pytest.raises(BarecloudError, match="is gone"):
            await agent._start(spec)
        assert spec.netns not in namespaces()
        assert spec.network_id not in agent.servers
    finally:
        await run_ip("netns", "delete", spec.netns)
