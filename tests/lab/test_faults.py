"""Faults, set and cleared with ``lab fault`` on a running lab, seen through both protocols."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from barecloud.wire.ipmi.client import IpmiSession
from barecloud.wire.ipmi.errors import IpmiAuthError, IpmiTimeout
from tests.lab.conftest import PASSWORD, Lab


def session(lab: Lab, name: str, timeout: float = 1.0) -> IpmiSession:
    return IpmiSession("127.0.0.1", lab.port(name), "admin", PASSWORD, timeout=timeout)


def system_url(lab: Lab, name: str) -> str:
    return f"{lab.redfish}/redfish/v1/Systems/{name}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(auth=("admin", PASSWORD), timeout=5) as client:
        yield client


async def test_unreachable_bmcs_do_not_answer_at_all(lab: Lab, http: httpx.AsyncClient) -> None:
    name = "lab-00006"
    assert "faults unreachable" in lab.cli("fault", name, "unreachable")
    async with session(lab, name) as s:
        with pytest.raises(IpmiTimeout, match="no answer within 1s"):
            await s.get_power()
    with pytest.raises(httpx.ReadTimeout):
        await http.get(system_url(lab, name), timeout=1.0)
    lab.cli("fault", name, "unreachable", "--off")
    async with session(lab, name) as s:
        assert await s.get_power() is False
    assert (await http.get(system_url(lab, name))).status_code == 200


async def test_bad_credentials_refuse_the_right_password_even_on_open_sessions(
    lab: Lab, http: httpx.AsyncClient
) -> None:
    name = "lab-00006"
    async with session(lab, name, timeout=2.0) as s:
        assert await s.get_power() is False  # logged in before the password changes
        lab.cli("fault", name, "bad-credentials")
        with pytest.raises(IpmiAuthError, match="RAKP2"):
            await s.get_power()  # the session is gone; logging in again is refused
    assert (await http.get(system_url(lab, name))).status_code == 401
    lab.cli("fault", name, "bad-credentials", "--off")
    async with session(lab, name) as s:
        assert await s.get_power() is False
    assert (await http.get(system_url(lab, name))).status_code == 200


async def test_slow_bmcs_answer_late(lab: Lab, http: httpx.AsyncClient) -> None:
    name = "lab-00007"
    lab.cli("fault", name, "slow", "--seconds", "0.3")
    started = time.monotonic()
    rsp = await http.get(system_url(lab, name))
    assert rsp.status_code == 200 and time.monotonic() - started >= 0.3
    async with session(lab, name, timeout=6.0) as s:
        started = time.monotonic()
        assert await s.get_power() is False  # login (3 exchanges) and the command: each late
        assert time.monotonic() - started >= 4 * 0.3
        started = time.monotonic()
        assert await s.get_power() is False
        assert 0.3 <= time.monotonic() - started < 1.5
    lab.cli("fault", name, "slow", "--off")
    started = time.monotonic()
    assert (await http.get(system_url(lab, name))).status_code == 200
    assert time.monotonic() - started < 0.3


async def test_ignore_power_acknowledges_and_does_nothing(
    lab: Lab, http: httpx.AsyncClient
) -> None:
    name = "lab-00008"
    lab.cli("fault", name, "ignore-power")
    async with session(lab, name) as s:
        await s.set_power("on")  # accepted...
        assert await s.get_power() is False  # ...and nothing happened
    reset = await http.post(f"{system_url(lab, name)}/Actions/ComputerSystem.Reset",
                            json={"ResetType": "On"})  # fmt: skip
    assert reset.status_code == 204
    assert (await http.get(system_url(lab, name))).json()["PowerState"] == "Off"
    assert lab.machine(name)["faults"] == {"ignore-power": {}}  # kept on disk
    lab.cli("fault", name, "all", "--off")
    async with session(lab, name) as s:
        await s.set_power("on")
        assert await s.get_power() is True
        await s.set_power("off")


def test_fault_command_refuses_nonsense(lab: Lab) -> None:
    assert "unknown fault" in lab.cli("fault", "lab-00008", "on-fire", check=False)
    assert "no machine" in lab.cli("fault", "lab-99999", "slow", check=False)
    assert "only goes with --off" in lab.cli("fault", "lab-00008", "all", check=False)
