"""MS-CHAPv1 (RFC 2433) and MS-CHAPv2 (RFC 2759) verification and MPPE keys (RFC 3079).

MD4 and single DES are not available from OpenSSL 3's default provider, so they come from
pycryptodome. All comparisons are constant-time.
"""

# MD4, DES and SHA-1 are what the protocols prescribe; nothing else interoperates with a NAS.
# ruff: noqa: S303, S304, S324

from __future__ import annotations

import hashlib
import hmac

from Crypto.Cipher import DES
from Crypto.Hash import MD4

_MAGIC1 = b"Magic server to client signing constant"
_MAGIC2 = b"Pad to make it do more than one iteration"
_MPPE_MAGIC1 = b"This is the MPPE Master Key"
_MPPE_MAGIC2 = b"On the client side, this is the send key; on the server side, it is the receive key."
_MPPE_MAGIC3 = b"On the client side, this is the receive key; on the server side, it is the send key."
_SHS_PAD1 = b"\x00" * 40
_SHS_PAD2 = b"\xf2" * 40


def _md4(data: bytes) -> bytes:
    return MD4.new(data).digest()


def nt_password_hash(password: str) -> bytes:
    return _md4(password.encode("utf-16-le"))


def hash_nt_password_hash(password_hash: bytes) -> bytes:
    return _md4(password_hash)


def _des_key(seven: bytes) -> bytes:
    """Spread 56 key bits over 8 bytes (parity bits are ignored by DES)."""
    bits = int.from_bytes(seven, "big")
    return bytes((((bits >> (49 - 7 * i)) & 0x7F) << 1) for i in range(8))


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """RFC 2759 ChallengeResponse: the 8-byte challenge DES-encrypted with three keys from the hash."""
    z = password_hash.ljust(21, b"\x00")
    return b"".join(DES.new(_des_key(z[i : i + 7]), DES.MODE_ECB).encrypt(challenge) for i in (0, 7, 14))


def strip_domain(username: str) -> str:
    """The challenge hash uses the user name without a ``DOMAIN\\`` prefix."""
    return username.rsplit("\\", 1)[-1]


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, username: str) -> bytes:
    digest = hashlib.sha1(peer_challenge + authenticator_challenge + strip_domain(username).encode()).digest()
    return digest[:8]


def generate_nt_response(
    authenticator_challenge: bytes, peer_challenge: bytes, username: str, password_hash: bytes
) -> bytes:
    return challenge_response(
        challenge_hash(peer_challenge, authenticator_challenge, username), password_hash
    )


def authenticator_response(
    password_hash: bytes,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    username: str,
) -> str:
    """``S=`` followed by 40 upper-case hex digits, sent back in MS-CHAP2-Success."""
    digest = hashlib.sha1(hash_nt_password_hash(password_hash) + nt_response + _MAGIC1).digest()
    challenge = challenge_hash(peer_challenge, authenticator_challenge, username)
    digest = hashlib.sha1(digest + challenge + _MAGIC2).digest()
    return "S=" + digest.hex().upper()


def verify_v2(
    password_hash: bytes,
    authenticator_challenge: bytes,
    peer_challenge: bytes,
    nt_response: bytes,
    username: str,
) -> bool:
    expected = generate_nt_response(authenticator_challenge, peer_challenge, username, password_hash)
    return hmac.compare_digest(expected, nt_response)


def verify_v1(password_hash: bytes, challenge: bytes, nt_response: bytes) -> bool:
    return hmac.compare_digest(challenge_response(challenge, password_hash), nt_response)


def master_key(password_hash: bytes, nt_response: bytes) -> bytes:
    return hashlib.sha1(hash_nt_password_hash(password_hash) + nt_response + _MPPE_MAGIC1).digest()[:16]


def asymmetric_start_key(master: bytes, length: int, is_send: bool, is_server: bool) -> bytes:
    magic = _MPPE_MAGIC3 if is_send == is_server else _MPPE_MAGIC2
    return hashlib.sha1(master + _SHS_PAD1 + magic + _SHS_PAD2).digest()[:length]


def mppe_keys(password_hash: bytes, nt_response: bytes) -> tuple[bytes, bytes]:
    """The server's (send, receive) 128-bit MPPE keys for MS-MPPE-Send-Key / MS-MPPE-Recv-Key."""
    master = master_key(password_hash, nt_response)
    return (
        asymmetric_start_key(master, 16, is_send=True, is_server=True),
        asymmetric_start_key(master, 16, is_send=False, is_server=True),
    )
