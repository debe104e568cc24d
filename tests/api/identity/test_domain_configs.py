"""Domain-specific configuration (/domains/{id}/config) stored and served as
Keystone's: groups identity and ldap, the LDAP password kept sealed and never shown."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error

CONFIG = {"identity": {"driver": "ldap"},
          "ldap": {"url": "ldap://ldap.example:389/", "user_tree_dn": "ou=Users,dc=ex"}}


def _domain(ks: Keystone, name: str) -> str:
    return str(ks.ok("POST", "/domains", 201, json={"domain": {"name": name}})["domain"]["id"])


def test_config_lifecycle(ks: Keystone, name: str) -> None:
    domain = _domain(ks, name)
    base = f"/domains/{domain}/config"
    error(ks.request("GET", base), 404)
    assert ks.ok("PUT", base, 201, json={"config": CONFIG})["config"] == CONFIG
    assert ks.ok("PUT", base, 200, json={"config": CONFIG})["config"] == CONFIG  # replaced
    assert ks.ok("GET", base)["config"] == CONFIG
    assert ks.ok("GET", f"{base}/ldap")["config"] == {"ldap": CONFIG["ldap"]}
    assert ks.ok("GET", f"{base}/ldap/url")["config"] == {"url": "ldap://ldap.example:389/"}
    error(ks.request("GET", f"{base}/ldap/user"), 404)  # allowed, not set
    error(ks.request("GET", f"{base}/ldap/no_such_option"), 403)
    error(ks.request("GET", f"{base}/nova"), 403)

    # PATCH merges the options sent, at each level; every answer is the whole config.
    whole = ks.ok("PATCH", f"{base}/identity", json={"config": {"identity": {
        "driver": "sql", "list_limit": 7}}})["config"]
    assert whole["identity"] == {"driver": "sql", "list_limit": 7}
    assert whole["ldap"] == CONFIG["ldap"]
    assert ks.ok("PATCH", f"{base}/ldap/url", json={"config": {"url": "ldap://b/"}})[
        "config"]["ldap"]["url"] == "ldap://b/"
    error(ks.request("PATCH", f"{base}/ldap/url", json={"config": {"user": "x"}}), 400)
    error(ks.request("PATCH", f"{base}/identity", json={"config": CONFIG}), 400)

    ks.ok("DELETE", f"{base}/identity/driver", 204)
    error(ks.request("GET", f"{base}/identity/driver"), 404)
    error(ks.request("DELETE", f"{base}/identity/driver"), 404)
    ks.ok("DELETE", f"{base}/identity", 204)
    error(ks.request("GET", f"{base}/identity"), 404)
    ks.ok("DELETE", base, 204)
    error(ks.request("GET", base), 404)
    error(ks.request("PATCH", base, json={"config": CONFIG}), 404)
    # Deleting the domain takes its configuration.
    ks.ok("PUT", base, 201, json={"config": CONFIG})
    ks.ok("PATCH", f"/domains/{domain}", json={"domain": {"enabled": False}})
    ks.ok("DELETE", f"/domains/{domain}", 204)
    assert ks.stored("SELECT config FROM domain_configs WHERE domain_id = ", domain) is None


def test_ldap_password_is_sealed_and_never_shown(ks: Keystone, name: str) -> None:
    domain = _domain(ks, name)
    secret = f"bind-{name}"
    shown = ks.ok("PUT", f"/domains/{domain}/config", 201, json={"config": {
        "ldap": {"url": "ldap://a/", "password": secret}}})
    assert shown["config"] == {"ldap": {"url": "ldap://a/"}}
    assert secret not in ks.request("GET", f"/domains/{domain}/config").text
    error(ks.request("GET", f"/domains/{domain}/config/ldap/password"), 404)
    stored = str(ks.stored("SELECT config FROM domain_configs WHERE domain_id = ", domain))
    assert "sealed:" in stored and secret not in stored
    assert secret not in ks.svc.log()


def test_bad_configs(ks: Keystone, name: str) -> None:
    domain = _domain(ks, name)
    base = f"/domains/{domain}/config"
    for body, status in (({}, 400), ({"config": {}}, 400), ({"config": "x"}, 400),
                         ({"config": {"nova": {"x": 1}}}, 403),
                         ({"config": {"ldap": {"bogus": 1}}}, 403),
                         ({"config": {"ldap": {}}}, 403)):
        error(ks.request("PUT", base, json=body), status)
    error(ks.request("GET", base), 404)  # nothing half-stored
    error(ks.request("PUT", "/domains/no-such-domain/config", json={"config": CONFIG}), 404)


def test_defaults_and_policy(ks: Keystone) -> None:
    defaults = ks.ok("GET", "/domains/config/default")["config"]
    assert defaults["identity"] == {"driver": "sql", "list_limit": None}
    assert defaults["ldap"]["url"] == "ldap://localhost" and "password" not in defaults["ldap"]
    assert ks.ok("GET", "/domains/config/ldap/default")["config"] == {
        "ldap": defaults["ldap"]}
    assert ks.ok("GET", "/domains/config/identity/driver/default")["config"] == {
        "driver": "sql"}
    error(ks.request("GET", "/domains/config/ldap/password/default"), 403)
    error(ks.request("GET", "/domains/config/nova/default"), 403)
    demo = ks.svc.token("barecloud")
    error(ks.request("PUT", "/domains/default/config", token=demo,
                     json={"config": CONFIG}), 403)
