"""What the Bare Metal API shows of the ipmi and redfish drivers: settings, masking, validation."""

from __future__ import annotations

import httpx

from tests import support

HEADERS = {"X-OpenStack-Ironic-API-Version": "1.78"}


def test_driver_properties_masked_secrets_and_validation(service: support.Service) -> None:
    with httpx.Client(base_url=f"{service.baremetal}/v1", headers=HEADERS, timeout=30) as api:
        names = {d["name"] for d in api.get("/drivers").json()["drivers"]}
        assert {"ipmi", "redfish", "fake-hardware"} <= names
        shown = api.get("/drivers/ipmi").json()
        assert shown["default_power_interface"] == "ipmitool"
        assert shown["enabled_inspect_interfaces"] == ["no-inspect", "agent"]
        assert shown["default_deploy_interface"] == "agent"

        props = api.get("/drivers/ipmi/properties").json()
        assert props["ipmi_address"] == "IP address or host name of the BMC. Required."
        assert props["ipmi_password"] == "BMC password. Secret."
        assert "Required." not in props["ipmi_port"]
        redfish = api.get("/drivers/redfish/properties").json()
        assert redfish["redfish_system_id"].endswith("Required.")
        assert redfish["redfish_password"].endswith("Secret.")

        created = api.post("/nodes", json={"driver": "ipmi", "name": "bmc-1", "driver_info": {
            "ipmi_username": "admin", "ipmi_password": "hunter2-secret"}})
        assert created.status_code == 201, created.text
        assert created.json()["driver_info"] == {"ipmi_username": "admin",
                                                 "ipmi_password": "******"}
        node = api.get("/nodes/bmc-1").json()
        assert node["driver_info"]["ipmi_password"] == "******"
        assert "hunter2-secret" not in api.get("/nodes/detail").text

        checks = api.get("/nodes/bmc-1/validate").json()
        assert checks["power"] == {"result": False, "reason": (
            "Missing the following IPMI settings in node's driver_info: ipmi_address.")}
        assert checks["management"]["result"] is False
        assert checks["network"] == {"result": True, "reason": None}
