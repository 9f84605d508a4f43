"""`mbox.split`'s fast path for a one-message mbox gives the bytes of the line-by-line walk."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.trace import mbox


def _walk(data: bytes) -> list[bytes]:
    return [raw for _, raw in mbox.split_lines(data.splitlines(keepends=True))] or [data]


PIECES = st.lists(st.sampled_from([b"From ", b"From a@b Mon Jan  1 00:00:00 2001", b"\n", b"\r", b"\r\n", b" ",
                                   b"\t", b">From ", b">>From x", b"X: y", b"a", b"\x0b", b""]), max_size=12).map(b"".join)


@settings(max_examples=2000, deadline=None)
@given(PIECES)
def test_fast_path_matches_the_walk(body):
    data = b"From " + body
    assert mbox.split(data) == _walk(data)


def test_single_message_mbox():
    data = b"From a@b Mon Jan  1 00:00:00 2001\nX: y\n\n>From here\nbody\n\n"
    assert mbox.split(data) == [b"X: y\n\nFrom here\nbody\n"] == _walk(data)
