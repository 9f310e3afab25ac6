"""MS-CHAP and RADIUS packet test vectors (RFC 2759 §9.2, RFC 3079 §3.5.3, RFC 2865 §7.1)."""

from __future__ import annotations

from pyrad.dictionary import Dictionary
from pyrad.packet import AccessAccept, AuthPacket

from core.radius import DICTIONARY_PATH, mschap

AUTH_CHALLENGE = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
PEER_CHALLENGE = bytes.fromhex("21402324255E262A28295F2B3A337C7E")
NT_RESPONSE = bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")


def test_rfc2759_ms_chap_v2_vectors():
    pw_hash = mschap.nt_password_hash("clientPass")
    assert pw_hash.hex().upper() == "44EBBA8D5312B8D611474411F56989AE"
    assert mschap.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, "User").hex().upper() == "D02E4386BCE91226"
    assert mschap.generate_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, "User", pw_hash) == NT_RESPONSE
    assert (
        mschap.authenticator_response(pw_hash, NT_RESPONSE, PEER_CHALLENGE, AUTH_CHALLENGE, "User")
        == "S=407A5589115FD0D6209F510FE9C04566932CDA56"
    )
    assert mschap.verify_v2(pw_hash, AUTH_CHALLENGE, PEER_CHALLENGE, NT_RESPONSE, "User")
    assert not mschap.verify_v2(
        mschap.nt_password_hash("wrong"), AUTH_CHALLENGE, PEER_CHALLENGE, NT_RESPONSE, "User"
    )


def test_challenge_hash_ignores_the_windows_domain():
    assert mschap.challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, "CORP\\User") == mschap.challenge_hash(
        PEER_CHALLENGE, AUTH_CHALLENGE, "User"
    )


def test_rfc3079_mppe_keys():
    pw_hash = mschap.nt_password_hash("clientPass")
    assert mschap.master_key(pw_hash, NT_RESPONSE).hex().upper() == "FDECE3717A8C838CB388E527AE3CDD31"
    send, recv = mschap.mppe_keys(pw_hash, NT_RESPONSE)
    assert send.hex().upper() == "8B7CDC149B993A1BA118CB153F56DCCB"
    assert recv != send and len(recv) == 16


def test_ms_chap_v1_response_roundtrip():
    challenge = bytes.fromhex("102DB5DF085D3041")  # RFC 2433 appendix
    pw_hash = mschap.nt_password_hash("MyPw")
    assert pw_hash.hex().upper() == "FC156AF7EDCD6C0EDDE3337D427F4EAC"
    response = mschap.challenge_response(challenge, pw_hash)
    assert response.hex().upper() == "4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61"
    assert mschap.verify_v1(pw_hash, challenge, response)


DICT = Dictionary(DICTIONARY_PATH)
RFC2865_REQUEST = bytes.fromhex(
    "01000038 0f403f9473978057bd83d5cb98f4227a 01066e656d6f 02120dbe708d93d413ce3196e43f782a0aee"
    " 0406c0a80110 050600000003".replace(" ", "")
)
RFC2865_ACCEPT = bytes.fromhex(
    "02000026 86fe220e7624ba2a1005f6bf9b55e0b2 060600000001 0f0600000000 0e06c0a80103".replace(" ", "")
)


def test_rfc2865_pap_request_decodes_with_our_dictionary():
    req = AuthPacket(secret=b"xyzzy5461", dict=DICT, packet=RFC2865_REQUEST)
    assert req["User-Name"] == ["nemo"]
    assert req.PwDecrypt(req[2][0]) == "arctangent"
    assert req["NAS-IP-Address"] == ["192.168.1.16"]
    assert req["NAS-Port"] == [3]


def test_rfc2865_accept_is_reproduced_byte_for_byte():
    req = AuthPacket(secret=b"xyzzy5461", dict=DICT, packet=RFC2865_REQUEST)
    reply = req.CreateReply(message_authenticator=False)
    reply.code = AccessAccept
    reply["Service-Type"] = "Login-User"
    reply["Login-Service"] = 0
    reply["Login-IP-Host"] = "192.168.1.3"
    assert reply.ReplyPacket() == RFC2865_ACCEPT
