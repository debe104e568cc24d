"""Conformance (issue 21): OpenStack's own tempest suites against barecloud.

One command, ``bench/conformance``, does what a person measuring by hand did:

1. a venv of its own, ``.cache/conformance/venv``, with tempest and the Ironic
   and Blazar plugins at pinned versions (:data:`PINS`);
2. a fresh ``barecloud serve`` on a free port with its own data directory
   (unless ``--url`` names a running one), fake-hardware nodes enough for the
   servers the Compute tests create;
3. provisioned through the APIs: projects with a member, a reader and a
   project admin each, system- and domain-scoped users (tempest's
   pre-provisioned ``accounts.yaml``), two flavors, two images, an external
   network;
4. ``tempest.conf``: the catalog, the microversions the service announces,
   and the feature flags.  A flag is turned off only for a feature that
   ``docs/conformance.md`` lists as not offered, with its reason
   (:data:`NOT_OFFERED` must match that list: :func:`check_documented`);
5. each selection through ``tempest run`` (niced, ``--concurrency 2``), a
   table per selection, the failures' names in ``<out>/failed-<sel>.txt``;
6. the comparison with the committed baseline (``bench/conformance-baseline.txt``,
   the tests that passed): exit status 1 when one of them no longer passes.

Run: ``bench/conformance [--selection blazar --selection network ...] [--url URL
--clouds clouds.yaml --cloud NAME] [--update-baseline]``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "conformance"
VENV = CACHE / "venv"
BASELINE = ROOT / "bench" / "conformance-baseline.txt"
DOC = ROOT / "docs" / "conformance.md"

# The versions issue 21 measured with; all install on Python 3.11.
PINS = ("tempest==47.0.0", "ironic-tempest-plugin==3.2.0", "blazar-tempest-plugin==0.19.0")

# Selection name -> the regex of test ids it runs (the table, in its order).
SELECTIONS: dict[str, str] = {
    "blazar": r"^blazar_tempest_plugin\.tests\.api\.",
    "network": r"^tempest\.api\.network\.",
    "identity": r"^tempest\.api\.identity\.(v3|admin\.v3)\.",
    "image": r"^tempest\.api\.image\.v2\.",
    "compute": r"^tempest\.api\.compute\.",
    "ironic": r"^ironic_tempest_plugin\.tests\.api\.admin\.",
}
# Blazar's gabbi fixture asks the credential provider for ``get_credentials('admin')``,
# which only tempest's dynamic provider has: these selections get credentials made by
# tempest itself (through the Identity API, as the admin) instead of accounts.yaml.
# The network selection too: its admin tests assert that the primary does not see
# what the admin or the alternate project made, and that the alternate project may
# create (test_list_floating_ips_from_admin_and_nonadmin); from accounts.yaml tempest
# may take a project's own admin as the admin and any non-admin account (a reader) as
# the alternate, where its dynamic credentials give each a project and the member role.
# Identity likewise (test_list_projects_returns_only_authorized_projects, by the draw).
# Image likewise: ImagesMemberTest's alternate must be a member (a reader drawn from
# accounts.yaml cannot accept a share), and its classes ask for more primary and
# reader accounts at once than the draw always leaves free.
# Compute too: ServersAdminTestJSON asserts that the admin sees the primary's servers
# only with all_tenants, false when the draw takes both from one project; and with
# dynamic credentials each project gets its own network, subnet and router to the
# public network (tempest's create_isolated_networks), as a project on a real cloud
# makes, so its servers get ports.
DYNAMIC = frozenset({"blazar", "network", "identity", "image", "compute"})
# ...and its gabbi files name ``http://127.0.0.1/`` (devstack's port 80) with the
# catalog's paths (``compute/v2.1``, ``reservation/v1``): those selections run with
# 127.0.0.1:80 forwarded to the service (:func:`port_80`).
PORT_80 = frozenset({"blazar"})
# ...and its tests are a chain per file, each running the ones before it when a
# worker has not: two workers would make every host and lease twice.  One worker.
SERIAL = frozenset({"blazar"})

# Feature flags turned off, as (section, option, value); each names a feature of
# docs/conformance.md's "Not offered" table (the third column is that row's key).
NOT_OFFERED: tuple[tuple[str, str, str, str], ...] = (
    ("service_available", "cinder", "False", "volumes"),
    ("service_available", "swift", "False", "object storage"),
    ("service_available", "horizon", "False", "dashboard"),
    ("compute-feature-enabled", "resize", "False", "resize"),
    ("compute-feature-enabled", "cold_migration", "False", "migration"),
    ("compute-feature-enabled", "live_migration", "False", "migration"),
    ("compute-feature-enabled", "pause", "False", "pause and suspend"),
    ("compute-feature-enabled", "suspend", "False", "pause and suspend"),
    ("compute-feature-enabled", "shelve", "False", "shelve"),
    ("compute-feature-enabled", "rescue", "False", "compute rescue"),
    ("compute-feature-enabled", "snapshot", "False", "snapshots"),
    ("volume-feature-enabled", "enable_volume_image_dep_tests", "False", "snapshots"),
    ("compute-feature-enabled", "interface_attach", "False", "interface attach"),
    ("compute-feature-enabled", "attach_encrypted_volume", "False", "volumes"),
    ("compute-feature-enabled", "metadata_service", "False", "metadata service"),
    ("compute-feature-enabled", "enable_instance_password", "False", "instance password"),
    ("compute-feature-enabled", "ide_bus", "False", "volumes"),
    ("validation", "run_validation", "False", "guest validation"),
    ("identity-feature-enabled", "trust", "False", "trusts"),
    ("identity-feature-enabled", "access_rules", "False", "access rules"),
    ("identity-feature-enabled", "api_v2_admin", "False", "identity v2"),
    # Of the extensions tempest asks about, only OS-EC2 is served (not OS-INHERIT).
    ("identity-feature-enabled", "api_extensions", "OS-EC2", "inherited assignments"),
    # Off by tempest's default, and left off: features barecloud does not offer either.
    ("compute-feature-enabled", "change_password", "False", "instance password"),
    ("compute-feature-enabled", "shelve_migrate", "False", "shelve"),
    ("compute-feature-enabled", "live_migrate_back_and_forth", "False", "migration"),
    ("compute-feature-enabled", "block_migration_for_live_migration", "False", "migration"),
    ("compute-feature-enabled", "vtpm_live_migration", "False", "migration"),
    ("compute-feature-enabled", "vnc_console", "False", "graphical consoles"),
    ("compute-feature-enabled", "spice_console", "False", "graphical consoles"),
    ("compute-feature-enabled", "stable_rescue", "False", "compute rescue"),
    ("compute-feature-enabled", "swap_volume", "False", "volumes"),
    ("compute-feature-enabled", "volume_backed_live_migration", "False", "volumes"),
    ("compute-feature-enabled", "volume_multiattach", "False", "volumes"),
    ("compute-feature-enabled", "unified_limits", "False", "unified limits"),
    ("identity-feature-enabled", "domain_specific_drivers", "False", "domain drivers"),
    ("identity-feature-enabled", "security_compliance", "False", "password rules"),
    ("image-feature-enabled", "image_conversion", "False", "image conversion"),
    ("image-feature-enabled", "store_weight_enabled", "False", "image stores"),
    ("compute-feature-enabled", "personality", "False", "personality files"),
    # Tempest's default, named: no ``fake-graphical`` console on fake hardware.
    ("baremetal", "enabled_console_interfaces", "fake,no-console",
     "bare-metal graphical console"),
)

FLAVOR_SPECS = {"resources:CUSTOM_BAREMETAL": "1", "resources:VCPU": "0",
                "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"}
IRONIC = {"X-OpenStack-Ironic-API-Version": "1.78"}
# NICs per provisioned node: tempest boots servers on up to three networks at once
# (ServersTestMultiNic), each port bound to a NIC of its own.
NICS = 3


@dataclass
class Admin:
    """The cloud's admin, as clouds.yaml names it."""

    auth_url: str
    username: str
    password: str
    project: str


@dataclass
class Cloud:
    """What tempest.conf needs to know about the provisioned cloud."""

    url: str
    catalog: dict[str, str] = field(default_factory=dict)
    versions: dict[str, tuple[str, str]] = field(default_factory=dict)
    flavors: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    public_network: str = ""
    shared_network: str = ""
    extensions: list[str] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    admin: Admin | None = None
    # The Image API's optional features, as the service answers about them, and
    # the runner's own web server of images (image_files).
    image_features: dict[str, bool] = field(default_factory=dict)
    image_files: dict[str, str] = field(default_factory=dict)


# --- the venv ------------------------------------------------------------------


def ensure_venv() -> Path:
    """The tempest venv, (re)made when the pins changed."""
    stamp = VENV / ".pins"
    if stamp.exists() and stamp.read_text() == "\n".join(PINS):
        return VENV
    CACHE.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if Path(uv).exists():
        cmd = [uv, "pip", "install", "-q", "--python", str(VENV / "bin" / "python"), *PINS]
    else:
        cmd = [str(VENV / "bin" / "pip"), "install", "-q", *PINS]
    print(f"installing {', '.join(PINS)} into {VENV}", flush=True)
    subprocess.run(["nice", "-n", "10", *cmd], check=True)
    stamp.write_text("\n".join(PINS))
    return VENV


# --- the service ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(out: Path, env: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """A fresh ``barecloud serve`` of its own; yields its URL and clouds.yaml.
    ``env``: settings of its own (:func:`image_settings`)."""
    data = out / "data"
    shutil.rmtree(data, ignore_errors=True)
    port = free_port()
    cmd = os.environ.get("BARECLOUD", str(ROOT / "barecloud")).split()
    log = (out / "serve.log").open("wb")
    proc = subprocess.Popen(
        ["nice", "-n", "10", *cmd, "serve", "--port", str(port), "--data-dir", str(data)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"barecloud serve did not start: see {out / 'serve.log'}")
            time.sleep(0.5)
        print(f"barecloud serve at {url} (data {data}, log {out / 'serve.log'})", flush=True)
        yield url, data / "clouds.yaml"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


class _Forward(socketserver.BaseRequestHandler):
    upstream: tuple[str, int] = ("127.0.0.1", 0)

    def handle(self) -> None:
        with socket.create_connection(self.upstream) as up:
            def pump(src: socket.socket, dst: socket.socket) -> None:
                with contextlib.suppress(OSError):
                    while data := src.recv(65536):
                        dst.sendall(data)
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)

            back = threading.Thread(target=pump, args=(up, self.request), daemon=True)
            back.start()
            pump(self.request, up)
            back.join()


@contextlib.contextmanager
def port_80(url: str) -> Iterator[None]:
    """127.0.0.1:80 forwarded to the service, for tests that hard-code that address."""
    parts = urlsplit(url)
    handler = type("Forward", (_Forward,), {
        "upstream": (parts.hostname or "127.0.0.1", parts.port or 80)})
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    try:
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 80), handler)
    except OSError as exc:
        raise SystemExit(f"127.0.0.1:80 is needed by blazar's tests: {exc}") from exc
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def image_server(out: Path) -> Iterator[dict[str, str]]:
    """A web server of image files on 127.0.0.1 (this machine has no internet): what
    tempest's ``http_image`` (a location) and ``http_qcow2_image`` (web-download) name,
    as an operator's CI mirrors cirros.  Yields those two URLs."""
    root = out / "http-images"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "image.raw").write_bytes(secrets.token_bytes(1 << 20))
    qemu_img = shutil.which("qemu-img")
    if qemu_img:
        subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", str(root / "image.qcow2"),
                        "16M"], check=True)
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield {"http_image": f"{base}/image.raw",
               **({"http_qcow2_image": f"{base}/image.qcow2"} if qemu_img else {})}
    finally:
        server.shutdown()
        server.server_close()


def image_settings(files: dict[str, str]) -> dict[str, str]:
    """The serve's Image API settings, as an operator offering these features sets them
    (image-api.md): locations shown, web-download from the image server's port (and
    Glance's 80 and 443), the image cache."""
    port = urlsplit(files["http_image"]).port
    return {"BARECLOUD_IMAGE_SHOW_MULTIPLE_LOCATIONS": "true",
            "BARECLOUD_IMAGE_IMPORT_METHODS": json.dumps(["glance-direct", "web-download"]),
            "BARECLOUD_IMAGE_IMPORT_ALLOWED_PORTS": json.dumps([80, 443, port]),
            "BARECLOUD_IMAGE_CACHE": "true"}


def admin_of(clouds: Path, cloud: str) -> Admin:
    auth = yaml.safe_load(clouds.read_text())["clouds"][cloud]["auth"]
    return Admin(auth["auth_url"], auth["username"], auth["password"], auth["project_name"])


# --- provisioning --------------------------------------------------------------


class Api:
    """The admin's token and one client per service, from the catalog."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.identity = admin.auth_url.rstrip("/") + "/v3"
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": admin.username, "domain": {"id": "default"}, "password": admin.password}}},
            "scope": {"project": {"name": admin.project, "domain": {"id": "default"}}}}}
        r = httpx.post(f"{self.identity}/auth/tokens", json=body, timeout=30)
        r.raise_for_status()
        self.token = r.headers["X-Subject-Token"]
        self.catalog = {entry["type"]: next(e["url"] for e in entry["endpoints"]
                                            if e["interface"] == "public")
                        for entry in r.json()["token"]["catalog"]}
        self.catalog["identity"] = admin.auth_url
        self.http = httpx.Client(headers={"X-Auth-Token": self.token}, timeout=60)

    def call(self, method: str, url: str, ok: tuple[int, ...] = (200, 201, 202, 204),
             **kw: Any) -> Any:
        r = self.http.request(method, url, **kw)
        if r.status_code not in ok:
            raise SystemExit(f"{method} {url}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content and "json" in r.headers.get("content-type", "") else None


def provision(api: Api, url: str, projects: int, nodes: int,
              consoles: Path | None = None) -> Cloud:
    """Accounts, flavors, images, nodes and a public network, all through the APIs.
    ``consoles``: where the nodes' console logs are (a serve of the runner's own)."""
    cloud = Cloud(url=url, catalog=dict(api.catalog), admin=api.admin)
    tag = uuid.uuid4().hex[:6]
    cloud.accounts = _accounts(api, tag, projects)
    compute, image = api.catalog["compute"], api.catalog["image"]
    for name, ram in ((f"tempest-bm-{tag}", 1024), (f"tempest-bm-alt-{tag}", 2048)):
        flavor = api.call("POST", f"{compute}/flavors", json={"flavor": {
            "name": name, "ram": ram, "vcpus": 1, "disk": 1}})["flavor"]
        api.call("POST", f"{compute}/flavors/{flavor['id']}/os-extra_specs",
                 json={"extra_specs": FLAVOR_SPECS})
        cloud.flavors.append(flavor["id"])
    data = bytes(1 << 20)
    for name in (f"tempest-image-{tag}", f"tempest-image-alt-{tag}"):
        img = api.call("POST", f"{image}/v2/images", json={
            "name": name, "disk_format": "raw", "container_format": "bare",
            "visibility": "public"})
        api.call("PUT", f"{image}/v2/images/{img['id']}/file", content=data,
                 headers={"Content-Type": "application/octet-stream"})
        cloud.images.append(img["id"])
    cloud.image_features = _image_features(api, cloud.images[0])
    _nodes(api, tag, nodes, consoles)
    cloud.public_network = _public_network(api, tag)
    cloud.shared_network = _shared_network(api, tag, cloud.public_network)
    network = api.catalog["network"]
    cloud.extensions = sorted(e["alias"] for e in api.call(
        "GET", f"{network}/v2.0/extensions")["extensions"])
    cloud.versions = _versions(api)
    return cloud


def _image_features(api: Api, image_id: str) -> dict[str, bool]:
    """What the Image API offers of its optional features that tempest has flags for, by
    its own answers: images that show ``locations``, a ``/v2/cache`` (tempest reads the
    import methods from ``/v2/info/import`` itself)."""
    image = api.catalog["image"]
    shown = api.call("GET", f"{image}/v2/images/{image_id}")
    cache = api.http.get(f"{image}/v2/cache").status_code == 200
    return {"locations": "locations" in shown, "cache": cache}


def _accounts(api: Api, tag: str, projects: int) -> list[dict[str, Any]]:
    """Tempest's pre-provisioned credentials: the personas of issue 21."""
    ident = api.identity
    roles = {r["name"]: r["id"] for r in api.call("GET", f"{ident}/roles")["roles"]}
    if "manager" not in roles:
        # Keystone 2024.2's fourth role (tempest's ``project_manager``): barecloud's
        # Identity has no such built-in role, and its policy gives it nothing beyond
        # the member role its accounts also get (as Keystone's manager implies
        # member); they let the test classes that ask for one set up.
        roles["manager"] = api.call("POST", f"{ident}/roles", json={"role": {
            "name": "manager"}})["role"]["id"]
    if "service" not in roles:
        # Keystone's bootstrap makes a ``service`` role too, the one other services'
        # users hold (Nova's os-server-external-events asks for it); tempest's dynamic
        # credentials give it to the service user they make.
        roles["service"] = api.call("POST", f"{ident}/roles", json={"role": {
            "name": "service"}})["role"]["id"]
    accounts: list[dict[str, Any]] = []

    def user(name: str, project_id: str | None = None) -> tuple[str, str]:
        password = secrets.token_urlsafe(16)
        body: dict[str, Any] = {"name": name, "password": password, "domain_id": "default"}
        if project_id:
            body["default_project_id"] = project_id
        made = api.call("POST", f"{ident}/users", json={"user": body})["user"]
        return made["id"], password

    for i in range(1, projects + 1):
        pname = f"tempest-{tag}-p{i}"
        project = api.call("POST", f"{ident}/projects", json={"project": {
            "name": pname, "domain_id": "default"}})["project"]
        for persona in ("member", "reader", "admin", "manager"):
            uname = f"{pname}-{persona}"
            uid, password = user(uname, project["id"])
            # Keystone's manager implies member: the account has both.
            granted = ["member", "manager"] if persona == "manager" else [persona]
            for role in granted:
                api.call("PUT", f"{ident}/projects/{project['id']}/users/{uid}/roles/"
                         f"{roles[role]}")
            accounts.append({"username": uname, "password": password,
                             "project_name": pname, "roles": granted})
    # Three of each: tempest takes an account per test class for as long as the class
    # runs, and refuses (rather than waits) when none is free.
    for persona in ("admin", "member", "reader"):
        for i in range(1, 4):
            uname = f"tempest-{tag}-system-{persona}{i}"
            uid, password = user(uname)
            api.call("PUT", f"{ident}/system/users/{uid}/roles/{roles[persona]}")
            accounts.append({"username": uname, "password": password, "system": "all",
                             "roles": [persona]})
            uname = f"tempest-{tag}-domain-{persona}{i}"
            uid, password = user(uname)
            api.call("PUT", f"{ident}/domains/default/users/{uid}/roles/{roles[persona]}")
            accounts.append({"username": uname, "password": password,
                             "domain_name": "Default", "roles": [persona]})
    return accounts


def _console_log(consoles: Path, name: str) -> dict[str, str]:
    """A node's captured serial console, as a console server would write it (the
    fake hardware prints nothing itself): its ``driver_info.console_log``."""
    consoles.mkdir(parents=True, exist_ok=True)
    log = consoles / f"{name}.log"
    log.write_text("".join(f"[    {i}.000000] {name}: fake-hardware console line {i}\n"
                           for i in range(1, 21)))
    return {"console_log": str(log)}


def _nodes(api: Api, tag: str, count: int, consoles: Path | None = None) -> None:
    """Fake-hardware nodes, made available: the machines Compute's servers land on."""
    bm = api.catalog["baremetal"].rstrip("/") + "/v1"
    made = []
    for i in range(count):
        name = f"tempest-{tag}-{i:02d}"
        node = api.call("POST", f"{bm}/nodes", headers=IRONIC, json={
            "driver": "fake-hardware", "name": name, "resource_class": "baremetal",
            "driver_info": _console_log(consoles, name) if consoles else {},
            "properties": {"cpus": 4, "memory_mb": 8192, "local_gb": 100}})
        made.append(node["uuid"])
        for nic in range(NICS):
            _nic(api, bm, node["uuid"], i, nic)
    for verb, state in (("manage", "manageable"), ("provide", "available")):
        for uid in made:
            api.call("PUT", f"{bm}/nodes/{uid}/states/provision", headers=IRONIC,
                     json={"target": verb})
        for uid in made:
            deadline = time.monotonic() + 120
            while api.call("GET", f"{bm}/nodes/{uid}",
                           headers=IRONIC)["provision_state"] != state:
                if time.monotonic() > deadline:
                    raise SystemExit(f"node {uid} did not become {state}")
                time.sleep(0.2)


def _nic(api: Api, bm: str, node: str, index: int, nic: int) -> None:
    """One of a node's NICs, as inspection or an operator records it: its MAC and the
    switch port it is cabled to (``local_link_connection``), which is what binding a
    server's Neutron port to it needs (services/network/vifs.py).  The switch is no
    switch of barecloud's: the fake nodes use the ``flat`` network interface, which
    switches nothing, as Ironic's flat networking."""
    api.call("POST", f"{bm}/ports", headers=IRONIC, json={
        "node_uuid": node, "address": f"52:54:00:{secrets.token_hex(1)}:{index:02x}:{nic:02x}",
        "pxe_enabled": nic == 0,
        "local_link_connection": {"switch_id": "52:54:00:00:00:01",
                                  "port_id": f"Ethernet1/{index * NICS + nic + 1}",
                                  "switch_info": "tempest-switch"}})


def _shared_network(api: Api, tag: str, public: str) -> str:
    """The cloud's shared tenant network, routed to the public one (the network a
    cloud offers every project; tempest's ``compute.fixed_network_name``); its name."""
    network = api.catalog["network"].rstrip("/") + "/v2.0"
    name = f"tempest-shared-{tag}"
    net = api.call("POST", f"{network}/networks", json={"network": {
        "name": name, "shared": True}})["network"]
    subnet = api.call("POST", f"{network}/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.99.0.0/20", "ip_version": 4,
        "name": f"{name}-v4"}})["subnet"]
    router = api.call("POST", f"{network}/routers", json={"router": {
        "name": f"{name}-router", "external_gateway_info": {"network_id": public}}})["router"]
    api.call("PUT", f"{network}/routers/{router['id']}/add_router_interface",
             json={"subnet_id": subnet["id"]})
    return name


def _public_network(api: Api, tag: str) -> str:
    """An external network with a subnet: floating IPs' pool (objects only, no traffic)."""
    network = api.catalog["network"].rstrip("/") + "/v2.0"
    net = api.call("POST", f"{network}/networks", json={"network": {
        "name": f"tempest-public-{tag}", "router:external": True}})["network"]
    api.call("POST", f"{network}/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "172.24.4.0/24", "ip_version": 4,
        "name": f"tempest-public-{tag}-v4"}})
    net_id: str = net["id"]
    return net_id


def _versions(api: Api) -> dict[str, tuple[str, str]]:
    """The microversion ranges the service announces (not what we wish it did)."""
    found: dict[str, tuple[str, str]] = {}
    compute = httpx.get(api.catalog["compute"], timeout=30).json()["version"]
    found["compute"] = (compute["min_version"], compute["version"])
    root = api.catalog["baremetal"].rstrip("/")
    bm = httpx.get(root, timeout=30).json()["default_version"]
    found["baremetal"] = (bm["min_version"], bm["version"])
    return found


# --- tempest.conf --------------------------------------------------------------


def tempest_conf(cloud: Cloud, work: Path, concurrency: int, dynamic: bool = False) -> str:
    """The configuration: the catalog as it is, and only documented features off.

    ``dynamic``: tempest makes a project and users per test class as the admin,
    instead of taking them from accounts.yaml (:data:`DYNAMIC`).
    """
    identity = cloud.catalog["identity"].rstrip("/")
    assert cloud.admin is not None
    conf: dict[str, dict[str, str]] = {
        "DEFAULT": {"log_dir": str(work / "logs"), "log_file": "tempest.log"},
        "oslo_concurrency": {"lock_path": str(work / "locks")},
        # The admin too: test classes with force_tenant_isolation (some of Identity's)
        # make their users with it even when the others take accounts.yaml's.
        "auth": {"use_dynamic_credentials": str(dynamic),
                 "test_accounts_file": str(work / "etc" / "accounts.yaml"),
                 "default_credentials_domain_name": "Default",
                 "admin_username": cloud.admin.username,
                 "admin_password": cloud.admin.password,
                 "admin_project_name": cloud.admin.project,
                 "admin_domain_name": "Default"},
        "identity": {"uri_v3": f"{identity}/v3", "auth_version": "v3",
                     "region": "RegionOne", "catalog_type": "identity"},
        "identity-feature-enabled": {"api_v2": "False", "api_v3": "True"},
        "compute": {"image_ref": cloud.images[0], "image_ref_alt": cloud.images[1],
                    "flavor_ref": cloud.flavors[0], "flavor_ref_alt": cloud.flavors[1],
                    "min_microversion": cloud.versions["compute"][0],
                    "max_microversion": cloud.versions["compute"][1],
                    "build_timeout": "120", "region": "RegionOne",
                    "fixed_network_name": cloud.shared_network},
        # On where tempest's default is off: barecloud offers these.
        "compute-feature-enabled": {"console_output": "True", "config_drive": "True",
                                    "serial_console": "True",
                                    "hostname_fqdn_sanitization": "True"},
        # The formats barecloud's Image API takes (image-api.md, "Formats"); its own web
        # server's images; features on as the service offers them (_image_features).
        "image": {"region": "RegionOne", "build_timeout": "60",
                  "container_formats": "bare", "disk_formats": "raw,qcow2",
                  "image_caching_enabled": str(cloud.image_features.get("cache", False)),
                  **cloud.image_files},
        # Off by tempest's default: barecloud offers glance-direct import (image-api.md).
        "image-feature-enabled": {
            "import_image": "True",
            "manage_locations": str(cloud.image_features.get("locations", False)),
            "http_store_enabled": str(cloud.image_features.get("locations", False))},
        "network": {"public_network_id": cloud.public_network,
                    "floating_network_name": "", "region": "RegionOne",
                    "build_timeout": "60"},
        "network-feature-enabled": {"api_extensions": ",".join(cloud.extensions),
                                    "ipv6_subnet_attributes": "True",
                                    "port_security": "True"},
        "service_available": {"nova": "True", "glance": "True", "neutron": "True",
                              "ironic": "True", "blazar": "True"},
        "baremetal": {"driver": "fake-hardware",
                      "enabled_hardware_types": "fake-hardware,ipmi,redfish",
                      "enabled_deploy_interfaces": "fake,agent",
                      "enabled_boot_interfaces": "fake,ipxe",
                      "enabled_rescue_interfaces": "fake,no-rescue",
                      "default_rescue_interface": "fake",
                      "min_microversion": cloud.versions["baremetal"][0],
                      "max_microversion": cloud.versions["baremetal"][1],
                      "active_timeout": "120", "association_timeout": "60",
                      "power_timeout": "60", "unprovision_timeout": "120",
                      "deploywait_timeout": "60"},
        "resource_reservation": {"lease_interval": "5", "lease_end_timeout": "120"},
    }
    for section, option, value, _feature in NOT_OFFERED:
        conf.setdefault(section, {})[option] = value
    conf["network"]["floating_network_name"] = ""
    lines = [f"# written by bench/conformance (concurrency {concurrency}); features off: "
             "docs/conformance.md"]
    for section, options in conf.items():
        lines.append(f"\n[{section}]")
        lines.extend(f"{k} = {v}" for k, v in options.items())
    return "\n".join(lines) + "\n"


def workspace(work: Path) -> None:
    """What ``tempest init`` makes, without registering it in ~/.tempest."""
    site = next((VENV / "lib").glob("python3*/site-packages")) / "tempest"
    for sub in ("etc", "logs", "locks"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    (work / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={site / 'test_discover'}\ntop_dir={site}\n"
        "group_regex=([^\\.]*\\.)*\n")
    if not (work / ".stestr").exists():
        subprocess.run([str(VENV / "bin" / "stestr"), "init"], cwd=work, check=True,
                       capture_output=True)


def check_documented() -> None:
    """Every flag turned off names a feature docs/conformance.md lists as not offered."""
    doc = DOC.read_text() if DOC.exists() else ""
    listed = set(re.findall(r"^\| \*\*([^*]+)\*\* \|", doc, re.M))
    # Also the list tempest.conf copies from the service's own answer.
    needed = {f for *_, f in NOT_OFFERED} | {"network extensions"}
    missing = sorted(needed - listed)
    if missing:
        raise SystemExit(f"features turned off but not in {DOC}: {', '.join(missing)}")


# --- running and counting --------------------------------------------------------

# Run inside the tempest venv: the subunit stream on stdin, one JSON line per result.
_SUBUNIT_READER = """
import json, sys, subunit, testtools
from testtools import StreamToDict
def out(test):
    text = ""
    for name, detail in test["details"].items():
        if name == "traceback":
            text = b"".join(detail.iter_bytes()).decode("utf-8", "replace")
    print(json.dumps({"id": test["id"], "status": test["status"], "traceback": text}))
case = StreamToDict(out)
case.startTestRun()
subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout").run(case)
case.stopTestRun()
"""


def bare(test_id: str) -> str:
    """A test id without tempest's ``[id-...,smoke]`` attributes."""
    return test_id.split("[", 1)[0]


@dataclass
class Outcome:
    listed: int = 0
    passed: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    seconds: float = 0.0
    causes: dict[str, str] = field(default_factory=dict)  # failed test -> cause()


def run_selection(name: str, work: Path, concurrency: int) -> Outcome:
    """``tempest run`` for one selection; every listed test counted once."""
    conf = work / "etc" / ("tempest-dynamic.conf" if name in DYNAMIC else "tempest.conf")
    tempest = str(VENV / "bin" / "tempest")
    env = {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"}
    regex = SELECTIONS[name]
    listing = subprocess.run([tempest, "run", "--list-tests", "--regex", regex], cwd=work,
                             env=env, capture_output=True, text=True, check=True).stdout
    listed = sorted({bare(t) for t in listing.split() if re.match(regex, t)})
    started = time.monotonic()
    log = work / f"run-{name}.log"
    with log.open("w") as out:
        subprocess.run(["nice", "-n", "10", tempest, "run", "--config-file", str(conf),
                        "--regex", regex,
                        "--concurrency", str(concurrency)],
                       cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    stream = subprocess.run([str(VENV / "bin" / "stestr"), "last", "--subunit"], cwd=work,
                            env=env, capture_output=True, check=False).stdout
    parsed = subprocess.run([str(VENV / "bin" / "python"), "-c", _SUBUNIT_READER],
                            input=stream, capture_output=True, check=True).stdout
    results: dict[str, str] = {}
    causes: dict[str, str] = {}
    for line in parsed.decode().splitlines():
        rec = json.loads(line)
        results[bare(rec["id"])] = rec["status"]
        if rec["status"] == "fail":
            causes[bare(rec["id"])] = cause(rec["traceback"])
    outcome = _count(listed, results, time.monotonic() - started)
    outcome.causes = causes
    return outcome


_EXCEPTION = re.compile(r"[A-Za-z_][\w.]*(Error|Exception|Code|Found|Request|Forbidden|Conflict|"
                        r"Unauthorized|Credentials|Mismatch|Failure|Timeout)\b")


_ID = re.compile(r"\b(?=[0-9a-f-]*[0-9])[0-9a-f]{8}-?[0-9a-f-]{4,}\b|\b\d{5,}\b")


def cause(traceback: str) -> str:
    """A failure in a few words: the exception, the API client call that raised it, and
    the first words of the answer."""
    calls = [c for c in re.findall(r'File "[^"]*/services/([\w/]+)\.py", line \d+, in (\w+)',
                                   traceback)
             if not c[0].endswith(("/base", "rest_client", "base_compute_client"))]
    lines = [ln.strip() for ln in traceback.splitlines() if ln.strip()]
    exc = next((ln for ln in reversed(lines) if _EXCEPTION.match(ln)), lines[-1] if lines else "")
    details = re.search(r"Details: (.*)", traceback)
    where = f"{calls[-1][0].rsplit('/', 1)[-1]}.{calls[-1][1]}" if calls else "-"
    # Ids replaced before cutting: one group for one cause on different resources.
    exc = _ID.sub("<id>", exc.split(" Details:")[0])[:110]
    said = _ID.sub("<id>", details.group(1))[:110] if details else ""
    return f"{exc} | {where} | {said}"



def _count(listed: list[str], results: dict[str, str], seconds: float) -> Outcome:
    """Each listed test: its own result, else its class's setUpClass result, else failed."""
    classes: dict[str, str] = {}
    for tid, status in results.items():
        m = re.match(r"(?:setUpClass|tearDownClass) \((.+)\)", tid)
        if m and (status != "success" or m.group(1) not in classes):
            classes[m.group(1)] = status
    outcome = Outcome(listed=len(listed), seconds=seconds)
    for tid in listed:
        status = results.get(tid) or classes.get(tid.rsplit(".", 1)[0], "fail")
        if status == "success":
            outcome.passed.add(tid)
        elif status == "skip":
            outcome.skipped.add(tid)
        else:
            outcome.failed.add(tid)
    return outcome


def causes_report(o: Outcome) -> str:
    """The failures grouped by cause, the commonest first, with their tests."""
    groups: dict[str, list[str]] = {}
    for tid in sorted(o.failed):
        why = (o.causes.get(tid) or o.causes.get(f"setUpClass ({tid.rsplit('.', 1)[0]})")
               or "no result of its own (its class did not run)")
        groups.setdefault(why, []).append(tid)
    out = []
    for why, tests in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
        out.append(f"{len(tests):4d}  {why}\n" + "".join(f"        {t}\n" for t in tests))
    return "".join(out)


def table(outcomes: dict[str, Outcome]) -> str:
    rows = ["| selection | listed | passed | failed | skipped | minutes |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, o in outcomes.items():
        rows.append(f"| {name} | {o.listed} | {len(o.passed)} | {len(o.failed)} | "
                    f"{len(o.skipped)} | {o.seconds / 60:.1f} |")
    return "\n".join(rows)


def compare(outcomes: dict[str, Outcome], baseline: Path) -> list[str]:
    """Tests the baseline says passed, in a selection that ran, that do not pass now."""
    if not baseline.exists():
        return []
    regress = []
    for tid in baseline.read_text().split():
        for name, o in outcomes.items():
            if re.match(SELECTIONS[name], tid) and tid not in o.passed:
                regress.append(tid)
    return sorted(regress)


def update_baseline(outcomes: dict[str, Outcome], baseline: Path) -> None:
    """The selections that ran are replaced by what passed now; the others are kept."""
    kept = [t for t in (baseline.read_text().split() if baseline.exists() else [])
            if not any(re.match(SELECTIONS[n], t) for n in outcomes)]
    passing = set(kept).union(*(o.passed for o in outcomes.values()))
    baseline.write_text("".join(f"{t}\n" for t in sorted(passing)))


# --- the command -----------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--selection", action="append", choices=list(SELECTIONS),
                   help="what to run (repeatable; default: all, in the table's order)")
    p.add_argument("--url", help="a running barecloud instead of a fresh serve of its own")
    p.add_argument("--clouds", type=Path, help="with --url: the clouds.yaml of its admin")
    p.add_argument("--cloud", default="barecloud-admin", help="the admin's cloud in it")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--projects", type=int, default=6, help="projects in accounts.yaml")
    p.add_argument("--nodes", type=int, default=12, help="fake-hardware nodes to provision")
    p.add_argument("--out", type=Path, default=CACHE / "run")
    p.add_argument("--baseline", type=Path, default=BASELINE)
    p.add_argument("--update-baseline", action="store_true",
                   help="write the tests that passed (of the selections run) to the baseline")
    args = p.parse_args(argv)
    if args.url and not args.clouds:
        p.error("--url needs --clouds (the admin's clouds.yaml)")
    check_documented()
    selections = args.selection or list(SELECTIONS)
    ensure_venv()
    work: Path = args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(image_server(work))
        if args.url:
            url, clouds = args.url, args.clouds
        else:
            url, clouds = stack.enter_context(serve(work, image_settings(files)))
        api = Api(admin_of(clouds, args.cloud))
        cloud = provision(api, url, args.projects, args.nodes,
                          None if args.url else work / "consoles")
        cloud.image_files = files
        tempest = work / "tempest"
        shutil.rmtree(tempest, ignore_errors=True)
        workspace(tempest)
        for conf_name, dynamic in (("tempest.conf", False), ("tempest-dynamic.conf", True)):
            conf = tempest / "etc" / conf_name
            conf.write_text(tempest_conf(cloud, tempest, args.concurrency, dynamic))
            conf.chmod(0o600)
        accounts = tempest / "etc" / "accounts.yaml"
        accounts.write_text(yaml.safe_dump(cloud.accounts, sort_keys=False))
        accounts.chmod(0o600)
        outcomes: dict[str, Outcome] = {}
        for name in selections:
            print(f"running {name} ({SELECTIONS[name]})", flush=True)
            with port_80(url) if name in PORT_80 else contextlib.nullcontext():
                outcomes[name] = o = run_selection(
                    name, tempest, 1 if name in SERIAL else args.concurrency)
            (work / f"failed-{name}.txt").write_text("".join(f"{t}\n" for t in
                                                              sorted(o.failed)))
            (work / f"causes-{name}.txt").write_text(causes_report(o))
            (work / f"passed-{name}.txt").write_text("".join(f"{t}\n" for t in
                                                              sorted(o.passed)))
            print(table({name: o}).splitlines()[-1], flush=True)
    print(f"\n{table(outcomes)}\n\nfailures: {work}/failed-<selection>.txt, by cause: "
          f"causes-<selection>.txt; tempest's log and workspace: {tempest}")
    regress = compare(outcomes, args.baseline)
    if args.update_baseline:
        update_baseline(outcomes, args.baseline)
        print(f"baseline written: {args.baseline}")
    if regress:
        print(f"\n{len(regress)} test(s) of the baseline no longer pass:")
        print("".join(f"  {t}\n" for t in regress), end="")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
