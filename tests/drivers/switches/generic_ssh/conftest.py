"""generic-ssh fixtures: a lab SSH switch of each vendor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from barecloud.lab.ssh_switch import SshSwitch
from tests.drivers.switches.generic_ssh.helpers import PASSWORD, PORTS, VENDORS


@pytest.fixture(params=VENDORS)
async def switch(request: pytest.FixtureRequest) -> AsyncIterator[SshSwitch]:
    sw = SshSwitch(request.param, "admin", PASSWORD, ports=PORTS[request.param])
    await sw.start("127.0.0.1", 0)
    try:
        yield sw
    finally:
        await sw.close()
