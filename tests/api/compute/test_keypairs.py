"""Key pairs: import (Nova's fingerprint), generate (the private key once), per-version shapes."""

from __future__ import annotations

import base64
import hashlib
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.api.compute.nova import Nova, fault


def _public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def _md5_fingerprint(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def _name() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


def test_import_show_list_delete(nova: Nova) -> None:
    name, public = _name(), _public_key() + " me@example"
    r = nova.request("POST", "/os-keypairs", json={"keypair": {"name": name,
                                                               "public_key": public}})
    assert r.status_code == 201, r.text  # 200 before 2.2
    created = r.json()["keypair"]
    assert created["fingerprint"] == _md5_fingerprint(public)
    assert created["type"] == "ssh" and "private_key" not in created
    shown = nova.ok("GET", f"/os-keypairs/{name}")["keypair"]
    assert shown["public_key"] == public and shown["user_id"] == created["user_id"]
    assert shown["deleted"] is False and isinstance(shown["id"], int)
    listed = {k["keypair"]["name"]: k["keypair"] for k in
              nova.ok("GET", "/os-keypairs")["keypairs"]}
    assert listed[name]["fingerprint"] == created["fingerprint"]
    assert fault(nova.request("POST", "/os-keypairs", json={"keypair": {
        "name": name, "public_key": public}}), 409) == f"Key pair '{name}' already exists."
    assert nova.request("DELETE", f"/os-keypairs/{name}").status_code == 204
    assert fault(nova.request("GET", f"/os-keypairs/{name}"), 404)
    # Before 2.2: 200 on create, 202 on delete, no type.
    old = nova.request("POST", "/os-keypairs", version="2.1",
                       json={"keypair": {"name": name, "public_key": public}})
    assert old.status_code == 200 and "type" not in old.json()["keypair"]
    assert nova.request("DELETE", f"/os-keypairs/{name}", version="2.1").status_code == 202


def test_rsa_keys_are_accepted(nova: Nova) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    created = nova.ok("POST", "/os-keypairs", 201, json={"keypair": {
        "name": _name(), "public_key": public}})["keypair"]
    assert created["fingerprint"] == _md5_fingerprint(public)


def test_generate_returns_the_private_key_once(nova: Nova) -> None:
    name = _name()
    created = nova.ok("POST", "/os-keypairs", 201, version="2.10",
                      json={"keypair": {"name": name}})["keypair"]
    private = serialization.load_ssh_private_key(created["private_key"].encode(), None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    derived = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                serialization.PublicFormat.OpenSSH).decode()
    assert created["public_key"] == derived
    assert created["fingerprint"] == _md5_fingerprint(derived)
    shown = nova.ok("GET", f"/os-keypairs/{name}")["keypair"]
    assert "private_key" not in shown and shown["public_key"] == derived
    # 2.92 removed generation: the public key is required.
    r = nova.request("POST", "/os-keypairs", json={"keypair": {"name": _name()}})
    assert "'public_key' is a required property" in fault(r, 400)


def test_bad_input_creates_nothing(nova: Nova) -> None:
    before = nova.ok("GET", "/os-keypairs")["keypairs"]
    cases = [
        ({"keypair": {"name": _name(), "public_key": "ssh-rsa not-a-key"}},
         "Keypair data is invalid: failed to generate fingerprint"),
        ({"keypair": {"name": "bad/name", "public_key": _public_key()}}, "does not match"),
        ({"keypair": {"name": "", "public_key": _public_key()}}, "is too short"),
        ({"keypair": {"public_key": _public_key()}}, "'name' is a required property"),
        ({"keypair": {"name": _name(), "public_key": _public_key(), "type": "gpg"}},
         "is not one of ['ssh', 'x509']"),
        ({"keypair": {"name": _name(), "public_key": _public_key(), "colour": "x"}},
         "Additional properties are not allowed"),
        ({"nothing": 1}, "'keypair' is a required property"),
    ]
    for body, words in cases:
        assert words in fault(nova.request("POST", "/os-keypairs", json=body), 400), body
    assert nova.ok("GET", "/os-keypairs")["keypairs"] == before


def test_an_x509_keypair_is_generated_as_novas(nova: Nova) -> None:
    """Nova's WinRM certificate: a self-signed certificate for the user, its SHA-1
    fingerprint, and the private key once."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    made = nova.ok("POST", "/os-keypairs", 201, version="2.2", json={
        "keypair": {"name": _name(), "type": "x509"}})["keypair"]
    assert made["type"] == "x509" and "PRIVATE KEY" in made["private_key"]
    cert = x509.load_pem_x509_certificate(made["public_key"].encode())
    assert cert.subject == cert.issuer
    assert made["fingerprint"] == cert.fingerprint(hashes.SHA1()).hex(":")
    shown = nova.ok("GET", f"/os-keypairs/{made['name']}")["keypair"]
    assert shown["public_key"] == made["public_key"] and "private_key" not in shown
