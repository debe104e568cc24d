"""What a node's driver_internal_info shows of its agent's command: no secrets."""

from __future__ import annotations

from barecloud.api.baremetal.render import internal_info


def test_chain_tokens_and_config_drives_are_masked() -> None:
    dii = {"agent_token": "t0k", "agent_url": "http://10.97.0.5:40000",
           "agent_command": {"name": "write_image", "status": "pending", "params": {
               "url": "http://10.97.0.1/boot/images/x", "serve": {"token": "s3cret"},
               "upstreams": ["http://10.97.0.4:40000/chain/up1", "http://10.97.0.3:1/chain/up2"],
               "stall_timeout": 10}}}
    shown = internal_info(dii)
    assert "agent_token" not in shown
    params = shown["agent_command"]["params"]
    assert params["serve"] == {"token": "******"}
    assert params["upstreams"] == ["http://10.97.0.4:40000/chain/******",
                                   "http://10.97.0.3:1/chain/******"]
    assert params["url"] == "http://10.97.0.1/boot/images/x" and params["stall_timeout"] == 10
    assert "s3cret" not in str(shown) and "up1" not in str(shown)
    assert dii["agent_command"]["params"]["serve"] == {"token": "s3cret"}  # not changed
    signed = internal_info({"agent_command": {"name": "write_image", "params": {
        "url": "http://10.97.0.1/boot/images/x?node=n&expires=1&signature=ab12"}}})
    assert signed["agent_command"]["params"]["url"] == "http://10.97.0.1/boot/images/x?******"
    drive = internal_info({"agent_command": {"name": "write_configdrive",
                                         "params": {"image": "H4sI..."}}})
    assert drive["agent_command"]["params"] == {"image": "******"}
