"""Failed logins are throttled per user and per source address, as an attacker
guessing passwords meets them: the right password is refused while locked,
unknown user names are answered exactly as known ones, and the counts hold
across API processes sharing a database.

Each test speaks from its own loopback address (127.0.0.x), so that the
per-source counts of one test do not lock another."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import support
from tests.conftest import service_on

ATTEMPTS = 3
DURATION = 8  # the source test must spray within it, on a slow database too
SOURCE_ATTEMPTS = 6
LOCKOUT_ENV = {"BARECLOUD_LOCKOUT_FAILURE_ATTEMPTS": str(ATTEMPTS),
               "BARECLOUD_LOCKOUT_DURATION": str(DURATION),
               "BARECLOUD_LOCKOUT_SOURCE_ATTEMPTS": str(SOURCE_ATTEMPTS)}
AUTH_FAILED = "The request you have made requires authentication."


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    yield from service_on(tmp_path_factory.mktemp("lockout"), request.param,
                          auth="keystone", extra_env=LOCKOUT_ENV)


@pytest.fixture(scope="module")
def admin(svc: support.Service) -> str:
    return svc.token()


_SOURCES = iter(range(2, 250))


@pytest.fixture
def client(svc: support.Service) -> Iterator[httpx.Client]:
    """A client on an address of its own (127.0.0.2, .3, ...)."""
    transport = httpx.HTTPTransport(local_address=f"127.0.0.{next(_SOURCES)}")
    with httpx.Client(base_url=svc.identity, transport=transport, timeout=30) as c:
        yield c


def _user(svc: support.Service, admin: str) -> tuple[str, str, str]:
    """A new user: (id, name, password)."""
    name, password = f"u-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    rsp = httpx.post(f"{svc.identity}/users", headers={"X-Auth-Token": admin}, timeout=30,
                     json={"user": {"name": name, "password": password,
                                    "domain_id": "default"}})
    assert rsp.status_code == 201, rsp.text
    return rsp.json()["user"]["id"], name, password


def _login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    return client.post("/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": "default"}, "password": password}}}}})


def _sleep_until(moment: float) -> None:
    """Wait out a lock from when it began, not from now: the guesses made meanwhile
    already counted against its duration (a lock is not extended by them)."""
    time.sleep(max(0.0, moment - time.monotonic()))


def _error(rsp: httpx.Response) -> dict[str, Any]:
    assert rsp.status_code == 401, rsp.text
    error: dict[str, Any] = rsp.json()["error"]
    return error


def test_guessing_a_users_password_locks_it(svc: support.Service, admin: str,
                                           client: httpx.Client) -> None:
    user_id, name, password = _user(svc, admin)
    # The attack: wrong passwords as fast as the service answers.
    answers = [_error(_login(client, name, f"guess-{i}"))["message"] for i in range(ATTEMPTS)]
    ends = time.monotonic() + DURATION  # the lock began before this answer came
    answers += [_error(_login(client, name, f"guess-{i}"))["message"]
                for i in range(ATTEMPTS, 20)]
    assert answers[:ATTEMPTS] == [AUTH_FAILED] * ATTEMPTS
    locked = f"The account is locked for user: default/{name}."
    assert answers[ATTEMPTS:] == [locked] * (20 - ATTEMPTS)
    assert user_id not in str(answers)
    # The right password does not get in while the lock holds...
    assert _error(_login(client, name, password))["message"] == locked
    # ...and does once it has ended; the count starts again.
    _sleep_until(ends + 0.5)
    assert _login(client, name, password).status_code == 201


def test_a_success_resets_the_count(svc: support.Service, admin: str,
                                    client: httpx.Client) -> None:
    _, name, password = _user(svc, admin)
    for _ in range(2):  # 4 failures: under the source's limit
        for i in range(ATTEMPTS - 1):
            assert _error(_login(client, name, f"typo-{i}"))["message"] == AUTH_FAILED
        assert _login(client, name, password).status_code == 201


def test_unknown_users_are_answered_as_known_ones(svc: support.Service, admin: str,
                                                  client: httpx.Client) -> None:
    _, known, _ = _user(svc, admin)
    unknown = f"u-{uuid.uuid4().hex[:8]}"
    # Another address for the unknown name, so that neither source's limit is met.
    transport = httpx.HTTPTransport(local_address=f"127.0.0.{next(_SOURCES)}")
    other = httpx.Client(base_url=svc.identity, transport=transport, timeout=30)
    for _ in range(ATTEMPTS + 2):
        a = _login(client, known, "wrong")
        b = _login(other, unknown, "wrong")
        assert a.status_code == b.status_code == 401
        assert a.json() == b.json() or a.json()["error"]["message"].replace(
            known, unknown) == b.json()["error"]["message"]
        assert a.headers["WWW-Authenticate"] == b.headers["WWW-Authenticate"]
    other.close()
    assert "locked" in b.json()["error"]["message"]


def test_guessing_over_many_names_locks_the_source(svc: support.Service, admin: str,
                                                  client: httpx.Client) -> None:
    _, name, password = _user(svc, admin)
    # One guess per name stays under the per-user limit; the source's adds up.
    for i in range(SOURCE_ATTEMPTS):
        assert _error(_login(client, f"spray-{i}-{uuid.uuid4().hex[:6]}", "123456"))[
            "message"] == AUTH_FAILED
    ends = time.monotonic() + DURATION  # the source's lock began before the last answer
    # Now even a right password from that address is refused, as a wrong one is...
    assert _error(_login(client, name, password))["message"] == AUTH_FAILED
    # ...while the same user from elsewhere logs in.
    transport = httpx.HTTPTransport(local_address=f"127.0.0.{next(_SOURCES)}")
    with httpx.Client(base_url=svc.identity, transport=transport, timeout=30) as other:
        assert _login(other, name, password).status_code == 201
    _sleep_until(ends + 0.5)
    assert _login(client, name, password).status_code == 201


def test_the_counts_hold_across_api_processes(pg_url: str,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    # Two API processes on one PostgreSQL database: failures at either count at both.
    base = tmp_path_factory.mktemp("lockout-two")
    svc = support.start_service(base / "svc", database_url=pg_url, auth="keystone",
                                extra_env=LOCKOUT_ENV)
    port = support.free_port()
    env = {**svc.env, "BARECLOUD_PORT": str(port)}
    log = (base / "api.log").open("wb")
    api = subprocess.Popen([sys.executable, "-m", "barecloud", "api"], env=env, stdout=log,
                           stderr=subprocess.STDOUT, cwd=str(svc.data_dir))
    try:
        second = f"http://127.0.0.1:{port}/identity/v3"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(second, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and api.poll() is None, "api did not start"
            time.sleep(0.1)
        _, name, password = _user(svc, svc.token())
        transport = httpx.HTTPTransport(local_address="127.0.0.250")
        with httpx.Client(base_url=svc.identity, transport=transport, timeout=30) as one, \
                httpx.Client(base_url=second, transport=httpx.HTTPTransport(
                    local_address="127.0.0.250"), timeout=30) as two:
            for i in range(ATTEMPTS):
                assert _error(_login(one if i % 2 else two, name, "wrong"))[
                    "message"] == AUTH_FAILED
            for c in (one, two):
                assert "locked" in _error(_login(c, name, password))["message"]
    finally:
        api.terminate()
        api.wait(timeout=20)
        log.close()
        svc.stop()
