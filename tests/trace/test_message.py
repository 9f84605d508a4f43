"""Reading raw messages: line ends, mbox From lines, folding, charsets, caps, NotMail."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.errors import NotMail
from mailrep.trace.message import MAX_HEADER_BYTES, MAX_RECEIVED, decode_words, read_message


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_ends(eol):
    raw = eol.join([b"From: a@example.org", b"Subject: hi", b" there", b"", b"body line 1", b"body line 2"])
    m = read_message(raw)
    assert m.headers == [("From", "a@example.org"), ("Subject", "hi there")]
    assert m.body == eol.join([b"body line 1", b"body line 2"])
    assert m.flags == []


@pytest.mark.parametrize(
    ("raw", "headers", "body", "flags", "mbox"),
    [
        (b"From a@b Mon Oct 11 14:00:00 2010\nX: 1\n\nb", [("X", "1")], b"b", [], "a@b Mon Oct 11 14:00:00 2010"),
        (b"From: a@b\n\n", [("From", "a@b")], b"", [], None),  # a From: header is not an mbox line
        (b"From a\n>From b\nX: 1\n\n", [("X", "1")], b"", [], "a"),
        (b"X: 1\nX: 2\nx: 3\n\n", [("X", "1"), ("X", "2"), ("x", "3")], b"", [], None),
        (b"X: a\n\tb\n  c\n\n", [("X", "a b c")], b"", [], None),
        (b"X:no space\nY :  padded  \n\n", [("X", "no space"), ("Y", "padded")], b"", [], None),
        (b"X: 1\nnot a header\nY: 2\n\nz", [("X", "1")], b"not a header\nY: 2\nz", ["header_garbage"], None),
        (b"X: 1\x00\n\n", [("X", "1\x00")], b"", ["nul_bytes"], None),
        (b"X: 1", [("X", "1")], b"", [], None),  # no body at all
    ],
)
def test_shapes(raw, headers, body, flags, mbox):
    m = read_message(raw)
    assert m.headers == headers
    assert m.body == body
    assert [f.code for f in m.flags] == flags
    assert m.mbox_from == mbox


def test_charsets_never_raise():
    m = read_message(b"Subject: caf\xc3\xa9\nX-Latin: caf\xe9\nX-Enc: =?iso-8859-1?q?caf=E9?=\nX-Bad: =?x-unknown?b?!!!?=\n\n")
    assert m.get("subject") == "café"
    assert m.get("x-latin") == "café"  # not UTF-8: read byte for byte as Latin-1
    assert m.decoded("X-Enc") == "café"
    assert m.decoded("X-Bad") == "=?x-unknown?b?!!!?="
    assert m.decoded("Missing") is None
    assert m.get("missing", "dflt") == "dflt" and m.get_all("missing") == []


@pytest.mark.parametrize("raw", [b"", b"   ", b"just some text\nwithout headers\n", b"\x00\x01\x02", b"\n\nbody only"])
def test_not_mail(raw):
    with pytest.raises(NotMail, match="no header block"):
        read_message(raw)


def test_caps_are_flagged():
    many = b"".join(b"Received: from h%d ([10.0.0.1]) by x; Mon, 11 Oct 2010 14:00:00 +0000\n" % i for i in range(MAX_RECEIVED + 5))
    m = read_message(many + b"\nbody")
    assert len(m.get_all("Received")) == MAX_RECEIVED
    assert [f.code for f in m.flags] == ["received_cut"]
    huge = b"X: " + b"a" * (MAX_HEADER_BYTES + 10) + b"\n\nbody"
    m = read_message(huge)
    assert "header_cut" in [f.code for f in m.flags]
    assert len(m.get("X") or "") <= MAX_HEADER_BYTES


_NAME = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z")
_VALUE = st.from_regex(r"\A[!-~]([ -~]{0,40}[!-~])?\Z")


@given(st.lists(st.tuples(_NAME, _VALUE), min_size=1, max_size=15), st.sampled_from(["\n", "\r\n", "\r"]), st.binary(max_size=100))
def test_round_trip(headers, eol, body):
    if eol == "\r" and body.startswith(b"\n"):
        body = b"x" + body  # CR CR LF is CR + CRLF: ambiguous by nature, read as such
    raw = eol.join(f"{n}: {v}" for n, v in headers).encode() + (eol * 2).encode() + body
    m = read_message(raw)
    assert m.headers == headers
    assert m.body == body


def test_decode_words_is_total():
    for v in ["=?utf-8?q?a?=", "=?", "=?utf-8?b?****?=", "plain", "=?utf-8?q?=FF=FE?="]:
        assert isinstance(decode_words(v), str)


@given(st.lists(st.sampled_from([b"X-A", b":", b" ", b"\t", b"\n", b"v", b"\n ", b"\n\t", b"\r", b"\n\n", b"\xff"]),
                max_size=40).map(b"".join))
@settings(max_examples=400, deadline=None)
def test_one_field_match_is_name_then_search_for_the_end(text):
    """message._FIELD (one match a field) reads what the name match and the search for the
    first line end not followed by a blank read."""
    import re

    from mailrep.trace import message as message_module

    end_rx = re.compile(rb"\n(?![ \t])")
    for pos in range(len(text)):
        one = message_module._FIELD.match(text, pos)
        name = message_module._FIELD_NAME.match(text, pos)
        assert (one is None) == (name is None)
        if one is not None and name is not None:
            fe = end_rx.search(text, name.end())
            end = len(text) if fe is None else fe.start()
            assert one.group(1, 2) == (name.group(1), text[name.end():end])
            assert one.end() == end
