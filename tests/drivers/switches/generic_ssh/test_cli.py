"""generic-ssh logging in to the lab's SSH switch: credentials, enable, key files, no switch."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncssh
import pytest

from barecloud.drivers.switches import build
from barecloud.errors import PermanentDriverError, RetryableDriverError
from barecloud.lab.ssh_switch import SshSwitch
from tests.drivers.switches.generic_ssh.helpers import PASSWORD, PORTS, VLAN100, driver


async def test_wrong_password_is_a_clear_permanent_error(switch: SshSwitch) -> None:
    wrong = "not-the-password-77"
    with pytest.raises(PermanentDriverError) as err:
        await driver(switch, password=wrong).bind(PORTS[switch.state.device_type][0], VLAN100)
    assert "authentication as 'admin' refused" in err.value.message
    assert wrong not in err.value.message and PASSWORD not in err.value.message
    assert switch.state.failed_logins >= 1 and switch.state.commands == []


async def test_enable_secret_is_typed_but_never_recorded() -> None:
    sw = SshSwitch("cisco_ios", "admin", PASSWORD, enable_secret="en-4a7b-secret")
    await sw.start()
    try:
        await driver(sw, enable_secret="en-4a7b-secret").bind("Gi1", VLAN100)
        assert sw.state.access_vlan("Gi1") == 100
        assert "en-4a7b-secret" not in sw.state.commands
        with pytest.raises(PermanentDriverError, match="`enable` refused") as err:
            await driver(sw, enable_secret="wrong-enable-55").bind("Gi1", VLAN100)
        assert "wrong-enable-55" not in err.value.message
    finally:
        await sw.close()


async def test_key_file_login(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    key.write_private_key(str(key_file))
    sw = SshSwitch("arista_eos", "admin", PASSWORD, authorized_keys=[key])
    await sw.start()
    try:
        d = build("tor2", {"driver": "generic-ssh", "device_type": "arista_eos",
                           "address": "127.0.0.1", "port": sw.port, "username": "admin",
                           "key_file": str(key_file), "timeout": 5})
        await d.bind("Ethernet3", VLAN100)
        assert sw.state.access_vlan("Ethernet3") == 100
    finally:
        await sw.close()


async def test_unreachable_switch_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = build("tor3", {"driver": "generic-ssh", "device_type": "cisco_ios",
                       "address": "127.0.0.1", "port": port, "username": "admin",
                       "password": PASSWORD, "timeout": 2})
    with pytest.raises(RetryableDriverError, match="cannot connect") as err:
        await d.unbind("Gi1")
    assert PASSWORD not in err.value.message
