"""Fast paths for the per-request work pyrad does slowly: decoding a request, hiding/unhiding
User-Password and encoding a reply. Both follow the RFCs byte for byte (tests compare them with pyrad and the RFC
2865 vectors); values are encoded with pyrad's dictionary and ``tools.EncodeAttr``.

A reply always carries the Message-Authenticator as its first attribute (BlastRADIUS), then the
reply attributes, then the request's Proxy-State attributes in their order (RFC 2865 §5.33).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import struct
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from pyrad import tools
from pyrad.dictionary import Dictionary
from pyrad.packet import AcctPacket, AuthPacket, Packet, PacketError

MAX_PACKET = 4096
_VSA = 26
_MESSAGE_AUTHENTICATOR = 80
_PROXY_STATE = 33
_HEADER = struct.Struct("!BBH16s")
_VENDOR_ID = struct.Struct("!L")
_TLV_KEYS: dict[int, frozenset[Any]] = {}  # id(dictionary) -> attribute keys of type tlv
_INTEGER_TYPES = frozenset({"integer", "date", "short", "byte", "integer64", "signed"})
REPLY_CACHE_SIZE = 4096  # encoded (name, value) pairs kept; emptied when full


def _tlv_keys(dictionary: Dictionary) -> frozenset[Any]:
    keys = _TLV_KEYS.get(id(dictionary))
    if keys is None:
        keys = frozenset(
            dictionary.attrindex.GetForward(name)
            for name, attr in dictionary.attributes.items()
            if attr.type == "tlv" and dictionary.attrindex.HasForward(name)
        )
        _TLV_KEYS[id(dictionary)] = keys
    return keys


def _split(data: bytes, pos: int) -> list[tuple[int, bytes]] | None:
    """(type, value) sub-attributes from ``pos``; None when their lengths do not add up."""
    out = []
    size = len(data)
    while pos < size:
        if size - pos < 2:
            return None
        length = data[pos + 1]
        if length < 2 or pos + length > size:
            return None
        out.append((data[pos], data[pos + 2 : pos + length]))
        pos += length
    return out


def decode_packet(pkt: Packet, packet: bytes) -> None:
    """Decode ``packet`` into ``pkt`` as pyrad's ``DecodePacket`` does (raw values by attribute
    code, vendor attributes by ``(vendor, type)``, TLVs nested), in one pass and without a
    dictionary lookup per attribute. An attribute whose length runs past the packet is an error."""
    try:
        code, identifier, length, authenticator = _HEADER.unpack_from(packet)
    except struct.error:
        raise PacketError("Packet header is corrupt") from None
    if length < 20 or len(packet) < length:
        raise PacketError("Packet has invalid length")
    if length > 8192:
        raise PacketError(f"Packet length is too long ({length})")
    packet = packet[:length]  # octets beyond Length are padding (RFC 2865 section 3)
    pkt.code, pkt.id, pkt.authenticator, pkt.raw_packet = code, identifier, authenticator, packet
    pkt.clear()
    tlv = _tlv_keys(pkt.dict) if pkt.dict is not None else frozenset()
    attrs: dict[Any, list[bytes]] = {}  # filled here, moved into pkt once (pkt's own setitem is slow)
    add = attrs.setdefault
    pos = 20
    while pos < length:
        if length - pos < 2:
            raise PacketError("Attribute header is corrupt")
        key, size = packet[pos], packet[pos + 1]
        if size < 2:
            raise PacketError(f"Attribute length is too small ({size})")
        end = pos + size
        if end > length:
            raise PacketError("Attribute length runs past the packet")
        value = packet[pos + 2 : end]
        if key == _VSA:
            subs = _split(value, 4) if size >= 8 and pkt.dict is not None else None
            if subs is None:
                add(_VSA, []).append(value)  # not in the RFC 2865 form: kept raw
            else:
                vendor = _VENDOR_ID.unpack_from(value)[0]
                for sub, sub_value in subs:
                    if (vendor, sub) in tlv:
                        pkt._PktDecodeTlvAttribute((vendor, sub), sub_value)
                    else:
                        add((vendor, sub), []).append(sub_value)
        elif key in tlv:
            pkt._PktDecodeTlvAttribute(key, value)
        else:
            if key == _MESSAGE_AUTHENTICATOR:
                pkt.message_authenticator = True
            add(key, []).append(value)
        pos = end
    for key, values in attrs.items():  # TLVs went straight into pkt; their keys are never in attrs
        OrderedDict.__setitem__(pkt, key, values)


class RequestPacket:
    """Mixin: a received request decoded by :func:`decode_packet`."""

    def DecodePacket(self, packet: bytes) -> None:  # pyrad calls it by this name
        decode_packet(self, packet)  # type: ignore[arg-type]


class AuthRequest(RequestPacket, AuthPacket):  # type: ignore[misc]
    """A received Access-Request."""


class AcctRequest(RequestPacket, AcctPacket):  # type: ignore[misc]
    """A received Accounting-Request."""


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


def typed_value(dictionary: Dictionary, name: str, value: Any) -> Any:
    """A reply value in the Python type pyrad encodes for the attribute's dictionary type."""
    attr = dictionary.attributes[name]
    if attr.values.HasForward(value):
        return value
    if attr.type in _INTEGER_TYPES:
        return int(value)
    if attr.type == "ipaddr":
        return str(ipaddress.IPv4Address(str(value)))
    if attr.type == "string":
        return value if isinstance(value, bytes) else str(value)
    return value


class ReplyEncoder:
    """Encodes reply attributes by name with a per-name cache of the dictionary lookups and a cache
    of encoded (name, value) pairs: a policy's rate limit, address list, group, interim interval and
    idle timeout are the same bytes in every reply, so a reply is mostly joined from ready templates.
    Salt-encrypted attributes (MPPE keys) depend on the request and are never cached."""

    def __init__(self, dictionary: Dictionary, cache_size: int = REPLY_CACHE_SIZE) -> None:
        self._dict = dictionary
        self._headers: dict[str, tuple[Any, bytes, int]] = {}
        self._encoded: dict[tuple[str, Any], bytes] = {}
        self._cache_size = cache_size

    def reply_attribute(self, name: str, value: Any, secret: bytes, request_authenticator: bytes) -> bytes:
        """``value`` (as the policy gives it) typed for the dictionary and encoded; ValueError,
        TypeError or KeyError when the name is unknown or the value does not fit its type."""
        key = (name, value)
        try:
            cached = self._encoded.get(key)
        except TypeError:  # an unhashable value: encode it every time
            key, cached = None, None  # type: ignore[assignment]
        if cached is not None:
            return cached
        raw = self.attribute(name, typed_value(self._dict, name, value), secret, request_authenticator)
        if key is not None and self._header(name)[0].encrypt == 0:
            if len(self._encoded) >= self._cache_size:
                self._encoded.clear()
            self._encoded[key] = raw
        return raw

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
