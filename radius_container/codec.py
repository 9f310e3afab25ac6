"""Fast paths for the two per-request encodings pyrad does slowly: hiding/unhiding User-Password and
encoding a reply. Both follow the RFCs byte for byte (tests compare them with pyrad and the RFC
2865 vectors); values are encoded with pyrad's dictionary and ``tools.EncodeAttr``.

A reply always carries the Message-Authenticator as its first attribute (BlastRADIUS), then the
reply attributes, then the request's Proxy-State attributes in their order (RFC 2865 §5.33).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from pyrad import tools
from pyrad.dictionary import Dictionary

MAX_PACKET = 4096
_VSA = 26
_MESSAGE_AUTHENTICATOR = 80
_PROXY_STATE = 33


def attributes_fit(data: bytes) -> bool:
    """Whether the packet's attributes tile its Length exactly (RFC 2865 §5): none shorter than its
    header, none running past the end. pyrad would silently truncate an attribute that overruns."""
    end = int.from_bytes(data[2:4], "big")
    if end < 20 or end > len(data):
        return False
    i = 20
    while i < end:
        if i + 2 > end or data[i + 1] < 2:
            return False
        i += data[i + 1]
    return i == end


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()  # noqa: S324 - the RADIUS algorithm


def unhide_password(hidden: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2: the clear-text User-Password (trailing NUL padding removed)."""
    if not hidden or len(hidden) % 16 or len(hidden) > 128:
        raise ValueError("invalid User-Password length")
    out, last = bytearray(), authenticator
    for i in range(0, len(hidden), 16):
        block = hidden[i : i + 16]
        out += _xor16(block, _md5(secret + last))
        last = block
    return bytes(out).rstrip(b"\x00")


def salt_encrypt(value: bytes, secret: bytes, request_authenticator: bytes) -> bytes:
    """RFC 2548 §2.4.2 / RFC 2868 §3.5 salt encryption (MS-MPPE-Send-Key / -Recv-Key)."""
    salt = bytes([0x80 | secrets.randbelow(128), secrets.randbelow(256)])
    plain = bytes([len(value)]) + value
    plain += b"\x00" * (-len(plain) % 16)
    out, last = bytearray(), request_authenticator + salt
    for i in range(0, len(plain), 16):
        block = _xor16(plain[i : i + 16], _md5(secret + last))
        out += block
        last = block
    return salt + bytes(out)


class ReplyEncoder:
    """Encodes reply attributes by name with a per-name cache of the dictionary lookups."""

    def __init__(self, dictionary: Dictionary) -> None:
        self._dict = dictionary
        self._headers: dict[str, tuple[Any, bytes, int]] = {}

    def _header(self, name: str) -> tuple[Any, bytes, int]:
        cached = self._headers.get(name)
        if cached is None:
            attr = self._dict.attributes[name]  # KeyError: unknown attribute
            vendor = self._dict.vendors.GetForward(attr.vendor) if attr.vendor else 0
            cached = (attr, struct.pack("!I", vendor) if vendor else b"", attr.code)
            self._headers[name] = cached
        return cached

    def attribute(self, name: str, value: Any, secret: bytes, request_authenticator: bytes) -> bytes:
        """One encoded attribute (a Vendor-Specific wrapper for vendor attributes)."""
        attr, vendor, code = self._header(name)
        if attr.values.HasForward(value):
            raw = attr.values.GetForward(value)
        else:
            raw = tools.EncodeAttr(attr.type, value)
        if attr.encrypt == 2:
            raw = salt_encrypt(raw, secret, request_authenticator)
        if len(raw) > 253 - (6 if vendor else 0):
            raise ValueError(f"value of {name} is too long")
        inner = bytes([code, len(raw) + 2]) + raw
        return bytes([_VSA, len(inner) + 6]) + vendor + inner if vendor else inner

    def packet(
        self,
        code: int,
        identifier: int,
        request_authenticator: bytes,
        secret: bytes,
        attributes: Iterable[bytes],
        proxy_states: Sequence[bytes] = (),
        message_authenticator: bool = True,
    ) -> bytes:
        body = b"".join(attributes) + b"".join(bytes([_PROXY_STATE, len(p) + 2]) + p for p in proxy_states)
        if message_authenticator:
            zeroed = bytes([_MESSAGE_AUTHENTICATOR, 18]) + b"\x00" * 16 + body
            header = struct.pack("!BBH", code, identifier, 20 + len(zeroed))
            mac = hmac.new(secret, header + request_authenticator + zeroed, "md5").digest()
            body = bytes([_MESSAGE_AUTHENTICATOR, 18]) + mac + body
        header = struct.pack("!BBH", code, identifier, 20 + len(body))
        if 20 + len(body) > MAX_PACKET:
            raise ValueError("reply longer than 4096 octets")
        return header + _md5(header + request_authenticator + body + secret) + body
