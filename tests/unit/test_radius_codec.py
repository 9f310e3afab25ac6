"""The fast encoders agree with pyrad and the RFC 2865 vectors."""

from __future__ import annotations

import pytest
from pyrad.packet import AccessAccept, AuthPacket, PacketError

from radius_container.codec import AuthRequest, ReplyEncoder, salt_encrypt, typed_value, unhide_password
from tests.fakes.radius import DICTIONARY
from tests.unit.test_radius_protocol_vectors import RFC2865_ACCEPT, RFC2865_REQUEST

SECRET = b"xyzzy5461"


def test_unhide_the_rfc2865_password():
    req = AuthPacket(secret=SECRET, dict=DICTIONARY, packet=RFC2865_REQUEST)
    assert unhide_password(req[2][0], SECRET, req.authenticator) == b"arctangent"


@pytest.mark.parametrize(
    "password", ["a", "exactly16chars!!", "a much longer password of 40 characters..", "ñandú"]
)
def test_unhide_matches_pyrad_hiding(password):
    req = AuthPacket(secret=SECRET, dict=DICTIONARY)
    hidden = req.PwCrypt(password)
    assert unhide_password(hidden, SECRET, req.authenticator) == password.encode()


@pytest.mark.parametrize("bad", [b"", b"x" * 15, b"x" * 144])
def test_unhide_refuses_invalid_lengths(bad):
    with pytest.raises(ValueError):
        unhide_password(bad, SECRET, b"\x00" * 16)


def test_reply_encoder_reproduces_the_rfc2865_accept():
    req = AuthPacket(secret=SECRET, dict=DICTIONARY, packet=RFC2865_REQUEST)
    enc = ReplyEncoder(DICTIONARY)
    attrs = [
        enc.attribute(n, v, SECRET, req.authenticator)
        for n, v in (("Service-Type", "Login-User"), ("Login-Service", 0), ("Login-IP-Host", "192.168.1.3"))
    ]
    raw = enc.packet(AccessAccept, req.id, req.authenticator, SECRET, attrs, message_authenticator=False)
    assert raw == RFC2865_ACCEPT


def test_reply_with_message_authenticator_first_vendor_attributes_and_proxy_state():
    req = AuthPacket(secret=SECRET, dict=DICTIONARY, id=7)
    req["User-Name"] = "nemo"
    req["Proxy-State"] = [b"one", b"two"]
    req.add_message_authenticator()
    request = AuthPacket(secret=SECRET, dict=DICTIONARY, packet=req.RequestPacket())
    enc = ReplyEncoder(DICTIONARY)
    key = bytes(range(16))
    attrs = [
        enc.attribute("Mikrotik-Rate-Limit", "2M/10M", SECRET, request.authenticator),
        enc.attribute("MS-MPPE-Send-Key", key, SECRET, request.authenticator),
        enc.attribute("Session-Timeout", 600, SECRET, request.authenticator),
    ]
    raw = enc.packet(AccessAccept, request.id, request.authenticator, SECRET, attrs, [b"one", b"two"])
    reply = request.CreateReply(packet=raw)
    assert request.VerifyReply(reply, raw, enforce_ma=True)
    assert raw[20] == 80
    assert reply["Mikrotik-Rate-Limit"] == ["2M/10M"] and reply["Session-Timeout"] == [600]
    assert reply["Proxy-State"] == [b"one", b"two"]
    reply.request_authenticator = request.authenticator
    assert reply["MS-MPPE-Send-Key"] == [key]


def test_salt_encryption_roundtrip_with_pyrad():
    req = AuthPacket(secret=SECRET, dict=DICTIONARY)
    req.authenticator = b"\x01" * 16
    hidden = salt_encrypt(b"sixteen byte key", SECRET, req.authenticator)
    assert hidden[0] & 0x80 and len(hidden) == 2 + 32
    reply = req.CreateReply()
    reply.request_authenticator = req.authenticator
    assert reply.SaltDecrypt(hidden) == b"sixteen byte key"


def test_values_too_long_are_refused():
    with pytest.raises(ValueError):
        ReplyEncoder(DICTIONARY).attribute("Mikrotik-Rate-Limit", "x" * 250, SECRET, b"\x00" * 16)


def _request_bytes(**attrs: object) -> bytes:
    req = AuthPacket(secret=SECRET, dict=DICTIONARY, User_Name="ana")
    req["User-Password"] = req.PwCrypt("secret")
    for name, value in attrs.items():
        req.AddAttribute(name.replace("_", "-"), value)
    req.add_message_authenticator()
    return bytes(req.RequestPacket())


@pytest.mark.parametrize(
    "raw",
    [
        RFC2865_REQUEST,
        _request_bytes(),
        _request_bytes(
            Calling_Station_Id="02-00-00-00-00-01",
            Mikrotik_Realm="home",
            MS_CHAP_Challenge=b"c" * 16,
            Proxy_State=b"p1",
        ),
        # a Vendor-Specific attribute too short for the RFC 2865 form, and padding past Length
        RFC2865_REQUEST[:2]
        + (len(RFC2865_REQUEST) + 6).to_bytes(2, "big")
        + RFC2865_REQUEST[4:]
        + b"\x1a\x06\x00\x00\x00\x09"
        + b"\x00" * 5,
    ],
    ids=["rfc2865", "pap", "vendor-and-proxy-state", "short-vsa-and-padding"],
)
def test_request_decoder_matches_pyrad(raw):
    ours = AuthRequest(secret=SECRET, dict=DICTIONARY, packet=raw)
    theirs = AuthPacket(secret=SECRET, dict=DICTIONARY, packet=raw)
    assert dict(ours) == dict(theirs)
    assert list(ours.keys()) == list(theirs.keys())
    assert (ours.code, ours.id, ours.authenticator, ours.raw_packet) == (
        theirs.code,
        theirs.id,
        theirs.authenticator,
        theirs.raw_packet,
    )
    assert bool(ours.message_authenticator) == bool(theirs.message_authenticator)


def test_request_decoder_refuses_an_attribute_running_past_the_packet():
    raw = bytearray(_request_bytes())
    raw[20 + 1] = 200  # User-Name claims more octets than the packet has
    with pytest.raises(PacketError):
        AuthRequest(secret=SECRET, dict=DICTIONARY, packet=bytes(raw))


def test_reply_templates_are_the_bytes_of_a_fresh_encoding():
    enc = ReplyEncoder(DICTIONARY)
    auth = b"\x07" * 16
    pairs = [
        ("Mikrotik-Rate-Limit", "5M/5M"),
        ("Mikrotik-Address-List", "clientes"),
        ("Acct-Interim-Interval", "300"),  # typed for the dictionary: sent as an integer
        ("Session-Timeout", 86400),
        ("Framed-IP-Address", "10.0.0.9"),
        ("Service-Type", "Framed-User"),
    ]
    first = [enc.reply_attribute(n, v, SECRET, auth) for n, v in pairs]
    again = [enc.reply_attribute(n, v, SECRET, b"\x09" * 16) for n, v in pairs]  # another request
    fresh = ReplyEncoder(DICTIONARY)
    expected = [fresh.attribute(n, typed_value(DICTIONARY, n, v), SECRET, auth) for n, v in pairs]
    assert first == again == expected


def test_salt_encrypted_reply_attributes_are_never_reused():
    enc = ReplyEncoder(DICTIONARY)
    key = bytes(range(16))
    one = enc.reply_attribute("MS-MPPE-Send-Key", key, SECRET, b"\x01" * 16)
    two = enc.reply_attribute("MS-MPPE-Send-Key", key, SECRET, b"\x02" * 16)
    assert one != two  # a fresh salt and the request's authenticator every time


def test_reply_template_cache_stays_bounded_and_refuses_bad_values():
    enc = ReplyEncoder(DICTIONARY, cache_size=8)
    for timeout in range(100):
        encoded = enc.reply_attribute("Session-Timeout", timeout, SECRET, b"\x00" * 16)
        assert encoded[2:] == timeout.to_bytes(4, "big")
    assert len(enc._encoded) <= 8
    with pytest.raises(ValueError):
        enc.reply_attribute("Session-Timeout", "soon", SECRET, b"\x00" * 16)
    with pytest.raises(KeyError):
        enc.reply_attribute("No-Such-Attribute", "x", SECRET, b"\x00" * 16)
