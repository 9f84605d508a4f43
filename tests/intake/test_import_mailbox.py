"""mbox / Maildir / .eml / stdin readers: the same message gives the same bytes from each."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.errors import NotFound
from mailrep.intake.mailbox import Source, iter_mbox, write_mbox
from mailrep.trace.mbox import escape as mbox_escape
from mailrep.trace.mbox import strip_envelope

MSG1 = b"From: a@example.com\nSubject: one\n\nFrom the start\n>From quoted\n\nFrom here too\n"
MSG2 = b"Received: from x (x [192.0.2.1])\n\tby y; Mon, 1 Jan 2024 00:00:00 +0000\nSubject: two\n\nbody\n"


def test_mbox_roundtrip_with_from_lines_in_bodies():
    buf = io.BytesIO()
    write_mbox(buf, [MSG1, MSG2])
    text = buf.getvalue()
    assert text.count(b"\nFrom ") + text.startswith(b"From ") == 2  # only the envelopes
    assert [i.raw for i in iter_mbox(io.BytesIO(text))] == [MSG1, MSG2]


def test_mbox_keys_are_byte_offsets():
    buf = io.BytesIO()
    write_mbox(buf, [MSG1, MSG2])
    items = list(iter_mbox(io.BytesIO(buf.getvalue()), "box"))
    second = buf.getvalue().index(b"From MAILER-DAEMON", 1)
    assert [i.key for i in items] == ["box:0", f"box:{second}"]


def test_strip_envelope():
    assert strip_envelope(b"From x@y Mon Jan  1 00:00:00 2024\nSubject: s\n\nb") == b"Subject: s\n\nb"
    assert strip_envelope(b"From: header@is.not.envelope\n\nb") == b"From: header@is.not.envelope\n\nb"
    assert strip_envelope(b"Subject: s\n\nb") == b"Subject: s\n\nb"


def test_mbox_escape_is_mboxrd():
    assert mbox_escape(b"From a\n>From b\nxFrom c\n") == b">From a\n>>From b\nxFrom c\n"


_line = st.one_of(
    st.sampled_from([b"From someone", b">From x", b">>From y", b"", b"text", b"From:", b" From"]),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_line, max_size=8), min_size=1, max_size=6))
def test_mbox_roundtrip_property(bodies):
    messages = [b"Subject: s\n\n" + b"".join(line + b"\n" for line in body) for body in bodies]
    buf = io.BytesIO()
    write_mbox(buf, messages)
    assert [i.raw for i in iter_mbox(io.BytesIO(buf.getvalue()))] == messages


def test_sources_agree_on_bytes(tmp_path):
    raws = [MSG1, MSG2]
    with (tmp_path / "box.mbox").open("wb") as f:
        write_mbox(f, raws)
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    (md / "new" / "1.host").write_bytes(b"From env@x Mon Jan  1 00:00:00 2024\n" + MSG1)
    (md / "cur" / "2.host:2,S").write_bytes(MSG2)
    (md / "tmp" / "3.host").write_bytes(b"Subject: in flight\n\n")  # not delivered yet: ignored
    eml = tmp_path / "emls" / "sub"
    eml.mkdir(parents=True)
    (eml / "a.eml").write_bytes(MSG1)
    (eml.parent / "b.EML").write_bytes(MSG2)
    (eml / "notes.txt").write_bytes(b"not mail")
    one = tmp_path / "single.eml"
    one.write_bytes(MSG2)

    kinds = {}
    for path in (tmp_path / "box.mbox", md, tmp_path / "emls", one):
        src = Source(str(path))
        kinds[src.kind] = sorted(i.raw for i in src)
        assert src.count() == len(kinds[src.kind])
    assert kinds["mbox"] == kinds["maildir"] == kinds["eml-dir"] == sorted(raws)
    assert kinds["eml"] == [MSG2]
    stdin = Source("-", stdin=io.BytesIO(b"From env@x Mon Jan  1 00:00:00 2024\n" + MSG1))
    assert stdin.kind == "stdin" and [i.raw for i in stdin] == [MSG1]


def test_missing_path_is_not_found(tmp_path):
    with pytest.raises(NotFound):
        Source(str(tmp_path / "nope"))
