"""The radius benches split a radclient file into one slice per request in flight (radclient 3.2
polls without sleeping with -p > 1): every block lands in exactly one slice, the packets of one
accounting session in one slice and in file order, the other blocks dealt evenly."""

from __future__ import annotations

from bench.radius.run import _slices, access_requests_file, accounting_file


def _blocks(slices: list[list[str]]) -> list[str]:
    return [b for s in slices for b in s]


def test_accounting_sessions_stay_whole_and_in_order(tmp_path):
    users = [(f"u{i}", "pw") for i in range(7)]
    text = accounting_file(tmp_path / "acct", users, sessions=50, tag="T").read_text()
    slices = _slices(text, 8)
    assert len(slices) == 8
    assert sorted(_blocks(slices)) == sorted(b.strip("\n") + "\n" for b in text.split("\n\n"))
    seen: dict[str, int] = {}
    for i, part in enumerate(slices):
        order: dict[str, list[str]] = {}
        for block in part:
            sid = block.split('Acct-Session-Id = "')[1].split('"')[0]
            assert seen.setdefault(sid, i) == i  # one slice per session
            order.setdefault(sid, []).append(block.split("Acct-Status-Type = ")[1].split("\n")[0])
        assert all(kinds == ["Start", "Interim-Update", "Stop"] for kinds in order.values())
    assert max(map(len, slices)) - min(map(len, slices)) <= 3  # whole sessions, evenly


def test_access_requests_are_dealt_evenly_and_small_files_make_fewer_slices(tmp_path):
    users = [(f"u{i}", "pw") for i in range(10)]
    text = access_requests_file(tmp_path / "access", users).read_text()
    slices = _slices(text, 4)
    assert [len(s) for s in slices] == [3, 3, 2, 2]
    assert [b.split('"')[1] for b in slices[0]] == ["u0", "u4", "u8"]
    assert len(_slices(text, 32)) == 10  # no empty slice
    (whole,) = _slices(text, 1)
    assert [b.split('"')[1] for b in whole] == [u for u, _ in users]  # file order
