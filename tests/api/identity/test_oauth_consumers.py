"""OS-OAUTH1 consumers: CRUD as Keystone's, the secret shown once and kept hashed."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error

BASE = "/OS-OAUTH1/consumers"


def test_consumer_lifecycle(ks: Keystone, name: str) -> None:
    made = ks.ok("POST", BASE, 201, json={"consumer": {"description": name}})["consumer"]
    secret = made.pop("secret")
    assert len(secret) >= 16 and made["description"] == name
    assert made["links"]["self"] == f"{ks.svc.identity}{BASE}/{made['id']}"
    shown = ks.ok("GET", f"{BASE}/{made['id']}")["consumer"]
    assert shown == made and "secret" not in shown
    listed = ks.ok("GET", BASE)["consumers"]
    assert made in listed and secret not in str(listed)
    stored = str(ks.stored("SELECT secret_hash FROM oauth_consumers WHERE id = ", made["id"]))
    assert stored.startswith("scrypt$") and secret not in stored

    updated = ks.ok("PATCH", f"{BASE}/{made['id']}", json={"consumer": {
        "description": "new"}})["consumer"]
    assert updated["description"] == "new" and "secret" not in updated
    error(ks.request("PATCH", f"{BASE}/{made['id']}", json={"consumer": {
        "secret": "mine"}}), 400)
    ks.ok("DELETE", f"{BASE}/{made['id']}", 204)
    error(ks.request("GET", f"{BASE}/{made['id']}"), 404)
    error(ks.request("DELETE", f"{BASE}/{made['id']}"), 404)


def test_consumers_are_the_admins(ks: Keystone) -> None:
    demo = ks.svc.token("barecloud")
    error(ks.request("POST", BASE, token=demo, json={"consumer": {}}), 403)
    error(ks.request("GET", BASE, token=demo), 403)
    made = ks.ok("POST", BASE, 201, json={"consumer": {}})["consumer"]
    assert made["description"] is None
    ks.ok("DELETE", f"{BASE}/{made['id']}", 204)
