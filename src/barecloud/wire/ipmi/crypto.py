"""RMCP+ session cryptography: cipher suites, RAKP key derivation and HMACs, AES-CBC.

Both the client and the BMCs derive the same keys here, so a disagreement
can only be with the specification [13.28-13.32, 22.15.2].
"""

from __future__ import annotations

import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from barecloud.wire.ipmi.errors import IpmiProtocolError

# --- cipher suites and session keys -----------------------------------------

AUTH_RAKP_HMAC_SHA1 = 0x01
AUTH_RAKP_HMAC_SHA256 = 0x03
INTEGRITY_HMAC_SHA1_96 = 0x01
INTEGRITY_HMAC_SHA256_128 = 0x04
CONF_AES_CBC_128 = 0x01


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One cipher suite: its algorithm numbers and the hash behind them."""

    id: int
    auth: int
    integrity: int
    confidentiality: int
    digest: str  # hashlib name for both the RAKP HMACs and the integrity MAC
    icv_len: int  # bytes of truncated MAC: RAKP4 ICV and per-packet AuthCode

    def mac(self, key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, self.digest)

    def icv(self, key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, self.digest)[: self.icv_len]


CIPHER_SUITES: dict[int, CipherSuite] = {
    3: CipherSuite(3, AUTH_RAKP_HMAC_SHA1, INTEGRITY_HMAC_SHA1_96, CONF_AES_CBC_128, "sha1", 12),
    17: CipherSuite(
        17, AUTH_RAKP_HMAC_SHA256, INTEGRITY_HMAC_SHA256_128, CONF_AES_CBC_128, "sha256", 16
    ),
}


def cipher_suite(suite_id: int) -> CipherSuite:
    try:
        return CIPHER_SUITES[suite_id]
    except KeyError:
        raise ValueError(
            f"cipher suite {suite_id} is not supported (supported: {sorted(CIPHER_SUITES)})"
        ) from None


def suite_for(auth: int, integrity: int, confidentiality: int) -> CipherSuite | None:
    """The supported suite with exactly these algorithms, if any."""
    for suite in CIPHER_SUITES.values():
        if (suite.auth, suite.integrity, suite.confidentiality) == (
            auth,
            integrity,
            confidentiality,
        ):
            return suite
    return None


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """What RAKP leaves behind: K1 signs packets, K2[:16] encrypts them."""

    suite: CipherSuite
    sik: bytes
    k1: bytes
    k2: bytes

    @property
    def aes_key(self) -> bytes:
        return self.k2[:16]


_CONST_1 = b"\x01" * 20
_CONST_2 = b"\x02" * 20


def derive_keys(
    suite: CipherSuite, kg: bytes, rm: bytes, rc: bytes, role: int, username: bytes
) -> SessionKeys:
    """SIK = HMAC_Kg(Rm|Rc|ROLEm|ULENGTHm|UNAMEm); K1, K2 = HMAC_SIK(const) [13.31-13.32].

    Kg defaults to the user's password (Kuid) when the BMC has no Kg set.
    The constants are 20 bytes for SHA-256 too, as ipmitool and BMCs do.
    """
    sik = suite.mac(kg, rm + rc + bytes((role, len(username))) + username)
    return SessionKeys(suite, sik, suite.mac(sik, _CONST_1), suite.mac(sik, _CONST_2))


def rakp2_auth_code(
    suite: CipherSuite,
    kuid: bytes,
    console_sid: int,
    bmc_sid: int,
    rm: bytes,
    rc: bytes,
    guid: bytes,
    role: int,
    username: bytes,
) -> bytes:
    """The BMC's proof of the password: HMAC_Kuid(SIDm|SIDc|Rm|Rc|GUIDc|ROLEm|ULENGTHm|UNAMEm)."""
    data = (
        struct.pack("<II", console_sid, bmc_sid)
        + rm
        + rc
        + guid
        + bytes((role, len(username)))
        + username
    )
    return suite.mac(kuid, data)


def rakp3_auth_code(
    suite: CipherSuite, kuid: bytes, rc: bytes, console_sid: int, role: int, username: bytes
) -> bytes:
    """The console's proof of the password: HMAC_Kuid(Rc|SIDm|ROLEm|ULENGTHm|UNAMEm)."""
    data = rc + struct.pack("<I", console_sid) + bytes((role, len(username))) + username
    return suite.mac(kuid, data)


def rakp4_icv(suite: CipherSuite, sik: bytes, rm: bytes, bmc_sid: int, guid: bytes) -> bytes:
    """The BMC's proof of the SIK: truncated HMAC_SIK(Rm|SIDc|GUIDc)."""
    return suite.icv(sik, rm + struct.pack("<I", bmc_sid) + guid)


def _aes_pad(length: int) -> bytes:
    # Confidentiality trailer [Table 13-20]: pad bytes 1, 2, 3, ... then the
    # pad length, so that payload + pad + length is a multiple of 16.
    n = (16 - (length + 1) % 16) % 16
    return bytes(range(1, n + 1)) + bytes((n,))


def seal_payload(keys: SessionKeys, payload: bytes) -> bytes:
    """Encrypt with AES-CBC-128 under K2: IV + ciphertext(payload + pad + pad length)."""
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(keys.aes_key), modes.CBC(iv)).encryptor()
    return iv + enc.update(payload + _aes_pad(len(payload))) + enc.finalize()


def unseal_payload(keys: SessionKeys, sealed: bytes) -> bytes:
    if len(sealed) < 32 or len(sealed) % 16:
        raise IpmiProtocolError("encrypted payload is not IV + whole AES blocks")
    dec = Cipher(algorithms.AES(keys.aes_key), modes.CBC(sealed[:16])).decryptor()
    plain = dec.update(sealed[16:]) + dec.finalize()
    n = plain[-1]
    if n > 15 or plain[-1 - n : -1] != bytes(range(1, n + 1)):
        raise IpmiProtocolError("bad confidentiality pad (wrong key?)")
    return plain[: -1 - n]
