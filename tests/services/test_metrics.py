"""The fleet families of /metrics against a deploy batch whose agents report bytes.

The batch is the one of tests/conductor/test_batches.py (the test plays every
agent); over HTTP, fake deploys write no bytes, so the sum is checked here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from barecloud import states
from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.drivers import fake
from barecloud.services import metrics
from tests.conductor.conftest import running
from tests.conductor.test_batches import (
    _chain_started,
    _command,
    _finish,
    _report,
    _wait_for,
    _written,
)


@pytest.fixture(autouse=True)
def _forget_fake_machines() -> Iterator[None]:
    yield
    fake.MACHINES.clear()


async def test_batch_members_and_bytes_by_delivery(database: Database, settings: Settings
                                                    ) -> None:
    async with running(database, settings.model_copy(update={"deploy_batch_retries": 0})) as rt:
        (bad, good), _ = await _chain_started(rt, 2)
        await _report(rt, bad, await _command(rt, bad), "failed", error="disk on fire")
        command = await _command(rt, good)
        await _report(rt, good, command, "succeeded", result=_written(command, size=5000))
        await _finish(rt, good)
        await _wait_for(rt, bad, lambda node: node.provision_state == states.DEPLOYFAIL,
                        "deploy failed")
        text = (await metrics.exposition(rt)).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("barecloud_deploy_batch_members",
                    (("delivery", "chain"), ("state", "ok")))] == 1
    assert samples[("barecloud_deploy_batch_members",
                    (("delivery", "chain"), ("state", "ko")))] == 1
    assert samples[("barecloud_deploy_batch_bytes_total", (("delivery", "chain"),))] == 5000
    assert samples[("barecloud_deploy_batches", (("state", "done"),))] == 1
    assert samples[("barecloud_nodes", (("maintenance", "false"), ("power_state", "power on"),
                                        ("provision_state", "active")))] == 1
