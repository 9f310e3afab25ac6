"""The RouterOS API wire format: length-prefixed words, sentences ending with an empty word."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class WireError(ValueError):
    """Bytes that are not a valid API word/sentence."""


def encode_length(n: int) -> bytes:
    if n < 0:
        raise WireError("negative length")
    if n < 0x80:
        return bytes([n])
    if n < 0x4000:
        return (n | 0x8000).to_bytes(2, "big")
    if n < 0x200000:
        return (n | 0xC00000).to_bytes(3, "big")
    if n < 0x10000000:
        return (n | 0xE0000000).to_bytes(4, "big")
    if n < 0x100000000:
        return b"\xf0" + n.to_bytes(4, "big")
    raise WireError("word too long")


def decode_length(buf: bytes | bytearray, pos: int = 0) -> tuple[int, int] | None:
    """``(length, bytes used)`` of the length prefix at ``pos``; None when more bytes are needed."""
    if pos >= len(buf):
        return None
    c = buf[pos]
    if c < 0x80:
        size, value = 1, c
    elif c < 0xC0:
        size, value = 2, c & 0x3F
    elif c < 0xE0:
        size, value = 3, c & 0x1F
    elif c < 0xF0:
        size, value = 4, c & 0x0F
    elif c == 0xF0:
        size, value = 5, 0
    else:
        raise WireError(f"reserved control byte 0x{c:02x}")
    if pos + size > len(buf):
        return None
    for b in buf[pos + 1 : pos + size]:
        value = (value << 8) | b
    return value, size


def encode_word(word: str, encoding: str = "utf-8") -> bytes:
    raw = word.encode(encoding)
    return encode_length(len(raw)) + raw


def encode_sentence(words: Iterable[str], encoding: str = "utf-8") -> bytes:
    return b"".join(encode_word(w, encoding) for w in words) + b"\x00"


class SentenceReader:
    """Incremental decoder: feed bytes, take complete sentences (lists of words)."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self._buf = bytearray()
        self._encoding = encoding

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_sentence(self) -> list[str] | None:
        pos = 0
        words: list[str] = []
        while True:
            got = decode_length(self._buf, pos)
            if got is None:
                return None
            length, used = got
            pos += used
            if length == 0:
                del self._buf[:pos]
                return words
            if pos + length > len(self._buf):
                return None
            words.append(bytes(self._buf[pos : pos + length]).decode(self._encoding, errors="replace"))
            pos += length

    def sentences(self) -> Iterator[list[str]]:
        while (s := self.next_sentence()) is not None:
            yield s

    @property
    def pending(self) -> int:
        return len(self._buf)
