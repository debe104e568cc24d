"""RMCP+ packets and IPMI LAN messages: byte-exact framing, sealing, tamper checks."""

from __future__ import annotations

import pytest

from barecloud.wire.ipmi.commands import (
    CMD_GET_CHANNEL_AUTH_CAPABILITIES,
    NETFN_APP,
)
from barecloud.wire.ipmi.crypto import cipher_suite, derive_keys
from barecloud.wire.ipmi.errors import (
    IpmiProtocolError,
)
from barecloud.wire.ipmi.framing import (
    IpmiRequest,
    IpmiResponse,
    PayloadType,
    build_v20_packet,
    open_packet,
    parse_packet,
)


def test_message_framing_and_checksums() -> None:
    req = IpmiRequest(NETFN_APP, CMD_GET_CHANNEL_AUTH_CAPABILITIES, b"\x8e\x04", 1)
    # ipmitool's first message on the wire, byte for byte.
    assert req.encode() == bytes.fromhex("2018c88104388e04b1")
    assert IpmiRequest.decode(req.encode()) == req
    rsp = req.response(0, b"\x01\x80")
    assert IpmiResponse.decode(rsp.encode()) == rsp
    bad = bytearray(rsp.encode())
    bad[-2] ^= 1
    with pytest.raises(IpmiProtocolError, match="checksum"):
        IpmiResponse.decode(bytes(bad))


@pytest.mark.parametrize("suite_id", [3, 17])
def test_sealed_packets_roundtrip_and_reject_tampering(suite_id: int) -> None:
    suite = cipher_suite(suite_id)
    keys = derive_keys(suite, b"secret", b"r" * 16, b"c" * 16, 0x14, b"admin")
    for size in (0, 1, 15, 16, 17, 40):
        payload = bytes(range(size))
        raw = build_v20_packet(PayloadType.IPMI, payload, 0x1234, 7, keys)
        assert (len(raw) - 4 - suite.icv_len) % 4 == 0  # integrity pad
        pkt = parse_packet(raw)
        assert (pkt.session_id, pkt.seq, pkt.encrypted, pkt.authenticated) == (
            0x1234,
            7,
            True,
            True,
        )
        assert open_packet(pkt, keys) == payload
    tampered = bytearray(raw)
    tampered[20] ^= 0x40
    with pytest.raises(IpmiProtocolError, match="integrity"):
        open_packet(parse_packet(bytes(tampered)), keys)
    other = derive_keys(suite, b"other", b"r" * 16, b"c" * 16, 0x14, b"admin")
    with pytest.raises(IpmiProtocolError):
        open_packet(parse_packet(raw), other)
