"""The fake RouterOS codec and query engine: length prefixes at every boundary (checked against
librouteros' own encoder), incremental sentence decoding, and RouterOS query semantics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from librouteros.protocol import decode_length as lib_decode_length
from librouteros.protocol import encode_length as lib_encode_length
from librouteros.protocol import encode_sentence as lib_encode_sentence

from tests.fakes.routeros import (
    SentenceReader,
    WireError,
    compile_query,
    decode_length,
    encode_length,
    encode_sentence,
)

BOUNDARIES = [0, 1, 0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000, 0xFFFFFFF]


@pytest.mark.parametrize("n", BOUNDARIES)
def test_length_prefix_matches_librouteros_and_round_trips(n):
    encoded = encode_length(n)
    assert encoded == lib_encode_length(n)
    assert decode_length(encoded) == (n, len(encoded))
    assert lib_decode_length(encoded) == n


@pytest.mark.parametrize(
    ("n", "size", "first"),
    [(0x7F, 1, 0x7F), (0x80, 2, 0x80), (0x4000, 3, 0xC0), (0x200000, 4, 0xE0), (0x10000000, 5, 0xF0)],
)
def test_length_prefix_sizes_and_control_bits(n, size, first):
    encoded = encode_length(n)
    assert len(encoded) == size and encoded[0] & 0xF0 == first & 0xF0


def test_five_byte_lengths_decode_and_reserved_bytes_fail():
    assert decode_length(b"\xf0\x10\x00\x00\x00") == (0x10000000, 5)
    with pytest.raises(WireError):
        decode_length(b"\xf8\x00")
    assert decode_length(b"\x81") is None  # needs a second byte


@given(st.lists(st.lists(st.text(min_size=1, max_size=300), max_size=8), max_size=6), st.integers(1, 50))
def test_sentences_decode_incrementally_whatever_the_chunking(sentences, chunk):
    wire = b"".join(encode_sentence(s) for s in sentences)
    reader = SentenceReader()
    got: list[list[str]] = []
    for i in range(0, len(wire), chunk):
        reader.feed(wire[i : i + chunk])
        got.extend(reader.sentences())
    assert got == [s for s in sentences]
    assert reader.pending == 0


def test_decodes_what_librouteros_encodes_in_utf8():
    wire = lib_encode_sentence("/ppp/secret/add", "=name=ñandú", "=password=contraseña", encoding="UTF-8")
    reader = SentenceReader()
    reader.feed(wire)
    assert reader.next_sentence() == ["/ppp/secret/add", "=name=ñandú", "=password=contraseña"]


ROWS = [
    {".id": "*1", "name": "ana", "profile": "plan-10M", "comment": "wisp:sub_ana", "limit": "5"},
    {".id": "*2", "name": "beto", "profile": "plan-20M", "limit": "50"},
    {".id": "*3", "name": "carla", "profile": "plan-10M", "comment": "hand made", "limit": "500"},
]


def ids(words):
    pred = compile_query(words)
    return [r[".id"] for r in ROWS if pred(r)]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ([], ["*1", "*2", "*3"]),
        (["?name=ana"], ["*1"]),
        (["?=name=ana"], ["*1"]),  # the form librouteros' Key() writes
        (["?comment"], ["*1", "*3"]),  # has the property
        (["?-comment"], ["*2"]),  # lacks it
        (["?>limit=10"], ["*2", "*3"]),  # numeric comparison, not text
        (["?<limit=50"], ["*1"]),
        (["?profile=plan-10M", "?name=carla"], ["*3"]),  # several results are ANDed
        (["?name=ana", "?name=beto", "?#|"], ["*1", "*2"]),
        (["?name=ana", "?name=beto", "?#|", "?#!"], ["*3"]),
        (["?profile=plan-10M", "?comment=hand made", "?#&"], ["*3"]),
        (["?name=ana", "?#."], ["*1"]),
        (["?name=ana", "?name=beto", "?name=carla", "?#||"], ["*1", "*2", "*3"]),
    ],
)
def test_query_stack_semantics(words, expected):
    assert ids(words) == expected


def test_unknown_query_operation_is_rejected():
    with pytest.raises(WireError):
        compile_query(["?#x"])


@given(
    st.lists(
        st.sampled_from(
            [
                "?name=ana",
                "?name=beto",
                "?profile=plan-10M",
                "?comment=hand made",
                "?#|",
                "?#&",
                "?#!",
                "?-comment",
                "?>limit=10",
            ]
        ),
        max_size=9,
    )
)
def test_fast_or_path_agrees_with_the_stack_machine(words):
    from infra.local.routeros_sim import query

    fast = compile_query(words)
    original = query._or_of_equalities
    query._or_of_equalities = lambda parsed: None  # force the general evaluation
    try:
        slow = compile_query(words)
    finally:
        query._or_of_equalities = original
    assert [fast(r) for r in ROWS] == [slow(r) for r in ROWS]
