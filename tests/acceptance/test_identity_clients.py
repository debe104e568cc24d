"""The ``openstack`` CLI and openstacksdk, unmodified, against barecloud's Identity.

Configured only by the clouds.yaml the service writes: ``barecloud`` (demo,
a member of project demo) and ``barecloud-admin``; an application credential
is then used the way a program would (``v3applicationcredential``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
from openstack import exceptions
from openstack.connection import Connection

from tests import preloaded, support

OPENSTACK = Path(sys.executable).parent / "openstack"
Connect = Callable[..., Connection]


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connect]:
    made: list[Connection] = []

    def make(svc: support.Service, cloud: str | None = None, **kwargs: Any) -> Connection:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(svc.clouds_yaml))
        monkeypatch.delenv("OS_CLOUD", raising=False)
        conn = openstack.connect(cloud=cloud, **kwargs)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


def test_sdk_as_demo_and_admin(keystone_service: support.Service, connect: Connect) -> None:
    svc = keystone_service
    demo = connect(svc, "barecloud")
    # As on Keystone, a member lists its own projects, not all of them.
    with pytest.raises(exceptions.ForbiddenException):
        list(demo.identity.projects())
    assert [p.name for p in demo.identity.user_projects(demo.current_user_id)] == ["demo"]
    assert list(demo.baremetal.nodes()) == []
    assert list(demo.image.images()) == []
    assert demo.current_project.name == "demo"

    admin = connect(svc, "barecloud-admin")
    assert sorted(p.name for p in admin.identity.projects()) == ["admin", "demo"]
    admin.baremetal.create_node(driver="fake-hardware", name="admins-node")
    public = admin.image.create_image(name="public", data=b"x", disk_format="raw",
                                      container_format="bare", visibility="public")
    private = admin.image.create_image(name="private", data=b"y", disk_format="raw",
                                       container_format="bare", visibility="private")
    assert [n.name for n in admin.baremetal.nodes()] == ["admins-node"]
    assert list(demo.baremetal.nodes()) == []  # not its project's
    assert [i.id for i in demo.image.images()] == [public.id]
    with pytest.raises(exceptions.NotFoundException):
        demo.image.get_image(private.id)
    with pytest.raises(exceptions.ForbiddenException):
        demo.baremetal.create_node(driver="fake-hardware")
    with pytest.raises(exceptions.ForbiddenException):
        list(demo.identity.users())

    user = admin.identity.create_user(name="sdk-user", password="sdk-pass",
                                      domain_id="default")
    project = admin.identity.create_project(name="sdk-project", domain_id="default")
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    assert admin.identity.validate_user_has_project_role(project, user, member)
    mine = connect(svc, auth_type="password", auth={
        "auth_url": f"{svc.url}/identity", "username": "sdk-user", "password": "sdk-pass",
        "user_domain_id": "default", "project_name": "sdk-project",
        "project_domain_id": "default"}, region_name="RegionOne")
    created = mine.identity.create_application_credential(user=user.id, name="sdk-cred")
    assert created.secret
    program = connect(svc, auth_type="v3applicationcredential", auth={
        "auth_url": f"{svc.url}/identity", "application_credential_id": created.id,
        "application_credential_secret": created.secret}, region_name="RegionOne")
    assert program.current_project_id == project.id
    assert [i.id for i in program.image.images()] == [public.id]
    image = program.image.create_image(name="by-program", data=b"z", disk_format="raw",
                                       container_format="bare")
    assert image.owner == project.id


class Cli:
    def __init__(self, svc: support.Service, cloud: str | None = "barecloud-admin",
                 **env: str) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env["PYTHONWARNINGS"] = "ignore"
        if cloud:
            self.env.update(OS_CLIENT_CONFIG_FILE=str(svc.clouds_yaml), OS_CLOUD=cloud)
        self.env.update(env)

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = preloaded.run([str(OPENSTACK), *args], env=self.env, capture_output=True,
                             text=True, timeout=120)
        assert (proc.returncode == 0) == ok, (args, proc.stdout, proc.stderr)
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)


@pytest.mark.slow  # about twenty CLI start-ups
@pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed")
def test_openstack_cli(keystone_service: support.Service) -> None:
    svc = keystone_service
    admin = Cli(svc)
    token = admin.json("token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]
    catalog = admin.json("catalog", "list")
    assert sorted(e["Type"] for e in catalog) == [
        "baremetal", "compute", "identity", "image", "network", "reservation"]

    project = admin.json("project", "create", "--description", "from the CLI", "cli-project")
    assert project["name"] == "cli-project" and project["domain_id"] == "default"
    user = admin.json("user", "create", "--password", "cli-pass", "--project", "cli-project",
                      "--email", "cli@example.com", "cli-user")
    assert user["default_project_id"] == project["id"] and "password" not in user
    admin.run("role", "add", "--project", "cli-project", "--user", "cli-user", "member")
    assert {p["Name"] for p in admin.json("project", "list")} >= {"admin", "demo",
                                                                  "cli-project"}
    assert "cli-user" in {u["Name"] for u in admin.json("user", "list")}
    assignments = admin.json("role", "assignment", "list", "--project", "cli-project",
                             "--names")
    assert [(a["Role"], a["User"]) for a in assignments] == [("member", "cli-user@Default")]
    effective = admin.json("role", "assignment", "list", "--user", "cli-user", "--effective",
                           "--names")
    assert sorted(a["Role"] for a in effective) == ["member", "reader"]
    assert {r["Name"] for r in admin.json("role", "list")} >= {"admin", "member", "reader"}

    as_user = Cli(svc, cloud=None, OS_AUTH_URL=f"{svc.url}/identity", OS_USERNAME="cli-user",
                  OS_PASSWORD="cli-pass", OS_PROJECT_NAME="cli-project",
                  OS_USER_DOMAIN_ID="default", OS_PROJECT_DOMAIN_ID="default",
                  OS_IDENTITY_API_VERSION="3", OS_REGION_NAME="RegionOne")
    cred = as_user.json("application", "credential", "create", "--description", "ci",
                        "cli-cred")
    assert cred["Secret"] and cred["Project ID"] == project["id"]
    listed = as_user.json("application", "credential", "list")
    assert [c["Name"] for c in listed] == ["cli-cred"] and "Secret" not in listed[0]
    program = Cli(svc, cloud=None, OS_AUTH_TYPE="v3applicationcredential",
                  OS_AUTH_URL=f"{svc.url}/identity",
                  OS_APPLICATION_CREDENTIAL_ID=cred["ID"],
                  OS_APPLICATION_CREDENTIAL_SECRET=cred["Secret"],
                  OS_IDENTITY_API_VERSION="3", OS_REGION_NAME="RegionOne")
    assert program.json("token", "issue")["project_id"] == project["id"]
    assert program.json("image", "list") == []
    assert program.json("baremetal", "node", "list") == []
    as_user.run("application", "credential", "delete", "cli-cred")
    failed = program.run("token", "issue", ok=False)
    assert "401" in failed.stderr or "authenticat" in failed.stderr.lower()
    # demo, a member elsewhere, is refused what only admins do.
    demo = Cli(svc, cloud="barecloud")
    assert "403" in demo.run("user", "list", ok=False).stderr
    admin.run("user", "delete", "cli-user")
    admin.run("project", "delete", "cli-project")
    assert "cli-project" not in {p["Name"] for p in admin.json("project", "list")}


def test_openstack_cli_groups(keystone_service: support.Service) -> None:
    svc = keystone_service
    admin = Cli(svc)
    admin.json("project", "create", "group-project")
    admin.json("user", "create", "--password", "g-pass", "group-user")
    group = admin.json("group", "create", "--description", "ops", "ops")
    assert (group["name"], group["description"], group["domain_id"]) == (
        "ops", "ops", "default")
    admin.run("group", "add", "user", "ops", "group-user")
    assert "group-user in group ops" in admin.run(
        "group", "contains", "user", "ops", "group-user").stdout
    assert [u["Name"] for u in admin.json("user", "list", "--group", "ops")] == ["group-user"]
    admin.run("role", "add", "--project", "group-project", "--group", "ops", "member")
    assignments = admin.json("role", "assignment", "list", "--group", "ops", "--names")
    assert [(a["Role"], a["Group"], a["Project"]) for a in assignments] == [
        ("member", "ops@Default", "group-project@Default")]
    as_user = Cli(svc, cloud=None, OS_AUTH_URL=f"{svc.url}/identity", OS_USERNAME="group-user",
                  OS_PASSWORD="g-pass", OS_PROJECT_NAME="group-project",
                  OS_USER_DOMAIN_ID="default", OS_PROJECT_DOMAIN_ID="default",
                  OS_IDENTITY_API_VERSION="3", OS_REGION_NAME="RegionOne")
    assert as_user.json("token", "issue")["project_id"]
    admin.run("group", "remove", "user", "ops", "group-user")
    assert admin.json("user", "list", "--group", "ops") == []
    assert "401" in as_user.run("token", "issue", ok=False).stderr
    admin.run("group", "delete", "ops")
    assert "ops" not in {g["Name"] for g in admin.json("group", "list")}


def test_openstack_cli_project_tags(keystone_service: support.Service) -> None:
    admin = Cli(keystone_service)
    admin.json("project", "create", "--tag", "blue", "--tag", "gpu", "tagged")
    admin.json("project", "create", "--tag", "blue", "plain")
    assert {p["Name"] for p in admin.json("project", "list", "--tags", "blue,gpu")} == {
        "tagged"}
    assert {p["Name"] for p in admin.json("project", "list", "--tags-any", "blue")} == {
        "tagged", "plain"}
    assert {p["Name"] for p in admin.json("project", "list", "--not-tags-any", "gpu")} >= {
        "plain", "admin", "demo"}
    admin.run("project", "set", "--remove-tag", "gpu", "tagged")
    assert admin.json("project", "show", "tagged")["tags"] == ["blue"]


def test_openstack_cli_catalog_writes(keystone_service: support.Service) -> None:
    admin = Cli(keystone_service)
    region = admin.json("region", "create", "--description", "second site", "RegionTwo")
    assert (region["region"], region["description"]) == ("RegionTwo", "second site")
    service = admin.json("service", "create", "--name", "metrics", "--description", "m",
                         "metric")
    assert (service["name"], service["type"], service["enabled"]) == ("metrics", "metric",
                                                                      True)
    endpoint = admin.json("endpoint", "create", "--region", "RegionTwo", "metrics", "public",
                          "http://metrics.example.test:8041")
    assert (endpoint["service_name"], endpoint["region"]) == ("metrics", "RegionTwo")
    shown = admin.json("catalog", "show", "metric")
    assert shown["name"] == "metrics" and "http://metrics.example.test:8041" in str(
        shown["endpoints"])
    assert sorted(e["Type"] for e in admin.json("catalog", "list")) == [
        "baremetal", "compute", "identity", "image", "metric", "network", "reservation"]
    admin.run("endpoint", "delete", endpoint["id"])
    admin.run("service", "delete", "metrics")
    admin.run("region", "delete", "RegionTwo")
    assert "metric" not in {e["Type"] for e in admin.json("catalog", "list")}
    assert "403" in admin.run("service", "delete", "nova", ok=False).stderr


def test_openstack_cli_credentials(keystone_service: support.Service) -> None:
    admin = Cli(keystone_service)
    blob = '{"access": "cli-access", "secret": "cli-secret"}'
    made = admin.json("credential", "create", "--type", "ec2", "--project", "admin", "admin",
                      blob)
    assert (made["type"], made["blob"]) == ("ec2", blob)
    assert [c["ID"] for c in admin.json("credential", "list", "--type", "ec2")] == [made["id"]]
    admin.run("credential", "set", "--type", "ec2", "--data",
              '{"access": "cli-access", "secret": "rotated"}', "--user", "admin",
              "--project", "admin", made["id"])
    assert "rotated" in admin.json("credential", "show", made["id"])["blob"]
    admin.run("credential", "delete", made["id"])
    assert admin.json("credential", "list") == []
