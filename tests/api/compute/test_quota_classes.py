"""os-quota-class-sets: the ``default`` class sets every project's defaults, as Nova's."""

from __future__ import annotations

from tests.api.compute.nova import Nova, fault


def test_default_class_is_every_projects_defaults(nova: Nova) -> None:
    shown = nova.ok("GET", "/os-quota-class-sets/default")["quota_class_set"]
    assert shown["id"] == "default" and shown["instances"] == 10
    assert "server_groups" in shown and "floating_ips" not in shown  # 2.50
    assert "injected_files" not in shown  # 2.57
    old = nova.ok("GET", "/os-quota-class-sets/default", version="2.49")["quota_class_set"]
    assert "floating_ips" in old and "server_groups" not in old and "injected_files" in old

    other = nova.ok("PUT", "/os-quota-class-sets/gold",
                    json={"quota_class_set": {"cores": 99}})["quota_class_set"]
    assert other["cores"] == 99 and "id" not in other
    assert nova.ok("GET", "/os-quota-sets/p-quota-class/defaults")["quota_set"]["cores"] == 20

    project = "p-quota-class"
    try:
        updated = nova.ok("PUT", "/os-quota-class-sets/default",
                          json={"quota_class_set": {"instances": 7, "server_groups": "3"}})
        assert updated["quota_class_set"]["instances"] == 7
        assert updated["quota_class_set"]["server_groups"] == 3
        assert nova.ok("GET", f"/os-quota-sets/{project}")["quota_set"]["instances"] == 7
        assert nova.ok("GET", f"/os-quota-sets/{project}/defaults")["quota_set"][
            "server_groups"] == 3
    finally:
        nova.ok("PUT", "/os-quota-class-sets/default",
                json={"quota_class_set": {"instances": 10, "server_groups": 10}})

    assert "must be -1 or greater" in fault(nova.request(
        "PUT", "/os-quota-class-sets/default", json={"quota_class_set": {"cores": -2}}), 400)
    assert "'floating_ips' was unexpected" in fault(nova.request(
        "PUT", "/os-quota-class-sets/default", json={"quota_class_set": {
            "floating_ips": 1}}), 400)
