"""Verify the credentials of an Access-Request: PAP, CHAP, MS-CHAPv1, MS-CHAPv2 and MAC authentication.

Returns what the reply must carry for the method: MS-CHAP2-Success and the MPPE keys on success,
MS-CHAP-Error on failure (with the reason in its ``M=`` text, which PPP clients show).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pyrad.packet import AuthPacket, PacketError

from core.radius import mschap
from core.radius.accounting import normalize_mac
from radius_container import codec

MPPE_ENCRYPTION_ALLOWED = 1
MPPE_TYPES_40_128 = 6  # 40- and 128-bit keys

# Vendor attribute keys as pyrad stores them: (vendor id, attribute number)
_MS_CHAP_RESPONSE = (311, 1)
_MS_CHAP_CHALLENGE = (311, 11)
_MS_CHAP2_RESPONSE = (311, 25)
_USER_PASSWORD = 2
_CHAP_PASSWORD = 3
_CALLING_STATION_ID = 31


class Method(StrEnum):
    PAP = "pap"
    CHAP = "chap"
    MSCHAP1 = "mschapv1"
    MSCHAP2 = "mschapv2"
    MAC = "mac"
    NONE = "none"


Reply = tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class CredentialResult:
    ok: bool
    method: Method
    reply: Reply = ()  # attributes for the Access-Accept (MS-CHAP)
    failure: Reply = ()  # attributes for the Access-Reject (MS-CHAP)


def _raw(pkt: AuthPacket, key: Any) -> bytes | None:
    values = dict.get(pkt, key)
    return bytes(values[0]) if values else None


def method_of(pkt: AuthPacket) -> Method:
    if dict.__contains__(pkt, _MS_CHAP2_RESPONSE):
        return Method.MSCHAP2
    if dict.__contains__(pkt, _MS_CHAP_RESPONSE):
        return Method.MSCHAP1
    if dict.__contains__(pkt, _CHAP_PASSWORD):
        return Method.CHAP
    if dict.__contains__(pkt, _USER_PASSWORD):
        return Method.PAP
    return Method.NONE


def mschap_error(pkt: AuthPacket, message: str) -> Reply:
    """The MS-CHAP-Error for a refused MS-CHAP request (E=691: authentication failure)."""
    method = method_of(pkt)
    if method == Method.MSCHAP2:
        response = _raw(pkt, _MS_CHAP2_RESPONSE) or b"\x00"
        challenge = secrets.token_bytes(16).hex().upper()
        text = f"E=691 R=0 C={challenge} V=3 M={message}"
    elif method == Method.MSCHAP1:
        response = _raw(pkt, _MS_CHAP_RESPONSE) or b"\x00"
        text = "E=691 R=1"
    else:
        return ()
    return (("MS-CHAP-Error", response[:1] + text.encode("utf-8")[:240]),)


def calling_station_mac(pkt: AuthPacket) -> str | None:
    raw = _raw(pkt, _CALLING_STATION_ID)
    return normalize_mac(raw.decode("utf-8", "replace")) if raw else None


def verify_mac(pkt: AuthPacket, registered_mac: str | None) -> CredentialResult:
    """Complementary access (SPEC S2): the device's MAC is the credential."""
    seen = calling_station_mac(pkt)
    ok = seen is not None and seen == normalize_mac(registered_mac)
    return CredentialResult(ok, Method.MAC)


def verify(pkt: AuthPacket, user_name: str, password: str) -> CredentialResult:
    """Check the request's credentials against the subscriber's clear-text network password."""
    method = method_of(pkt)
    try:
        if method == Method.PAP:
            return CredentialResult(_pap(pkt, password), method)
        if method == Method.CHAP:
            return CredentialResult(bool(pkt.VerifyChapPasswd(password.encode("utf-8"))), method)
        if method == Method.MSCHAP2:
            return _mschap2(pkt, user_name, password)
        if method == Method.MSCHAP1:
            return _mschap1(pkt, password)
    except (PacketError, ValueError, IndexError):
        pass
    return CredentialResult(False, method)


def _pap(pkt: AuthPacket, password: str) -> bool:
    encrypted = _raw(pkt, _USER_PASSWORD)
    if not encrypted:
        return False
    given = codec.unhide_password(encrypted, pkt.secret, pkt.authenticator)
    return hmac.compare_digest(given, password.encode("utf-8"))


def _mschap2(pkt: AuthPacket, user_name: str, password: str) -> CredentialResult:
    challenge = _raw(pkt, _MS_CHAP_CHALLENGE)
    response = _raw(pkt, _MS_CHAP2_RESPONSE)
    if not challenge or len(challenge) != 16 or not response or len(response) != 50:
        return CredentialResult(False, Method.MSCHAP2)
    ident, peer_challenge, nt_response = response[:1], response[2:18], response[26:50]
    pw_hash = mschap.nt_password_hash(password)
    if not mschap.verify_v2(pw_hash, challenge, peer_challenge, nt_response, user_name):
        return CredentialResult(False, Method.MSCHAP2)
    success = mschap.authenticator_response(pw_hash, nt_response, peer_challenge, challenge, user_name)
    send_key, recv_key = mschap.mppe_keys(pw_hash, nt_response)
    reply: Reply = (
        ("MS-CHAP2-Success", ident + success.encode("ascii")),
        ("MS-MPPE-Recv-Key", recv_key),
        ("MS-MPPE-Send-Key", send_key),
        ("MS-MPPE-Encryption-Policy", MPPE_ENCRYPTION_ALLOWED),
        ("MS-MPPE-Encryption-Types", MPPE_TYPES_40_128),
    )
    return CredentialResult(True, Method.MSCHAP2, reply=reply)


def _mschap1(pkt: AuthPacket, password: str) -> CredentialResult:
    challenge = _raw(pkt, _MS_CHAP_CHALLENGE)
    response = _raw(pkt, _MS_CHAP_RESPONSE)
    if not challenge or len(challenge) != 8 or not response or len(response) != 50:
        return CredentialResult(False, Method.MSCHAP1)
    flags, nt_response = response[1], response[26:50]
    if not flags & 1:
        return CredentialResult(False, Method.MSCHAP1)  # LM responses only: refused (LM hashes are broken)
    pw_hash = mschap.nt_password_hash(password)
    if not mschap.verify_v1(pw_hash, challenge, nt_response):
        return CredentialResult(False, Method.MSCHAP1)
    # MS-CHAP-MPPE-Keys (RFC 2548 2.4.1): 8-byte LM key (none) + 16-byte NT key, hidden like User-Password
    keys = b"\x00" * 8 + mschap.hash_nt_password_hash(pw_hash) + b"\x00" * 8
    reply: Reply = (
        ("MS-CHAP-MPPE-Keys", pkt.PwCrypt(keys)),
        ("MS-MPPE-Encryption-Policy", MPPE_ENCRYPTION_ALLOWED),
        ("MS-MPPE-Encryption-Types", MPPE_TYPES_40_128),
    )
    return CredentialResult(True, Method.MSCHAP1, reply=reply)
