"""Finding spams in a submission mail: attachments byte for byte, fallbacks flagged."""

from __future__ import annotations

import base64
import hashlib
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.intake.forward import (
    NoSpamAttached,
    content_type,
    extract_spams,
    inline_forward,
    split_multipart,
)

SPAM_A = (
    b"Received: from bad.example (bad.example [192.0.2.55])\r\n"
    b"\tby mx.reporter.example with SMTP id 1; Mon, 2 Jun 2003 10:00:00 +0000\r\n"
    b"From: spammer@bad.example\r\nTo: victim@reporter.example\r\nSubject: buy now\r\n"
    b"Message-ID: <a@bad.example>\r\n\r\nCheap stuff at http://spam.example/\r\n"
)
SPAM_B = SPAM_A.replace(b"192.0.2.55", b"198.51.100.7").replace(b"<a@", b"<b@")


def submission(*attachments: bytes, boundary: str = "XYZ", cte: str | None = None, text: bytes = b"see attached\r\n") -> bytes:
    """A submission mail built by hand, so attachment bytes stay exactly as given."""
    out = [
        b"From: reporter@reporter.example\r\nTo: submit.abc@mailrep.test\r\nSubject: spam\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + boundary.encode() + b"\"\r\n\r\n"
        b"This is a MIME message.\r\n",
        b"--" + boundary.encode() + b"\r\nContent-Type: text/plain\r\n\r\n" + text,
    ]
    for att in attachments:
        head = b"--" + boundary.encode() + b"\r\nContent-Type: message/rfc822\r\n"
        if cte == "base64":
            out.append(head + b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(att) + b"\r\n")
        else:
            out.append(head + b"Content-Disposition: attachment\r\n\r\n" + att + b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\nepilogue\r\n")
    return b"".join(out)


def test_each_attachment_is_one_spam_byte_for_byte():
    got = extract_spams(submission(SPAM_A, SPAM_B))
    assert [g.how for g in got] == ["attachment", "attachment"]
    assert [hashlib.sha256(g.raw).hexdigest() for g in got] == [
        hashlib.sha256(SPAM_A).hexdigest(), hashlib.sha256(SPAM_B).hexdigest()]
    assert all(not g.flags for g in got)


def test_corpus_messages_survive_attachment_exactly(corpus):
    files = sorted((corpus / "messages" / "spam").iterdir())[:25]
    raws = [f.read_bytes() for f in files]
    # a boundary that cannot occur in the corpus messages
    got = extract_spams(submission(*raws, boundary="=_mailrep_test_boundary_8f3a"))
    assert len(got) == len(raws)
    for g, raw in zip(got, raws, strict=True):
        # the delimiter's line break belongs to the delimiter: a trailing newline may go
        assert g.raw == raw or g.raw + b"\n" == raw or g.raw + b"\r\n" == raw


def test_base64_encoded_attachment_is_decoded_and_flagged():
    [got] = extract_spams(submission(SPAM_A, cte="base64"))
    assert got.raw == SPAM_A
    assert [f.code for f in got.flags] == ["attachment_encoded"]


def test_stdlib_built_forward_with_nested_multipart():
    outer = EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "r@x.example", "submit.abc@mailrep.test", "Fwd"
    outer.set_content("two spams")
    outer.add_alternative("<p>two spams</p>", subtype="html")
    outer.make_mixed()
    for raw in (SPAM_A, SPAM_B):
        inner = EmailMessage()
        inner.set_content("x")
        outer.add_attachment(__import__("email").message_from_bytes(raw))
    got = extract_spams(outer.as_bytes(policy=SMTP))
    assert len(got) == 2
    assert [b"192.0.2.55" in got[0].raw, b"198.51.100.7" in got[1].raw] == [True, True]


def test_eml_file_attachment_is_accepted_with_a_flag():
    raw = (
        b"From: r@x\r\nTo: submit.abc@mailrep.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: application/octet-stream; name=\"spam.eml\"\r\n"
        b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"spam.eml\"\r\n\r\n"
        + base64.encodebytes(SPAM_A) + b"--b--\r\n"
    )
    [got] = extract_spams(raw)
    assert got.raw == SPAM_A and got.how == "eml_file"
    assert [f.code for f in got.flags] == ["eml_file"]


def test_an_unrelated_file_attachment_is_not_spam():
    raw = (
        b"From: r@x\r\nTo: s@y\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n"
    )
    with pytest.raises(NoSpamAttached) as e:
        extract_spams(raw)
    assert "attachment" in e.value.message.lower()


def test_rfc822_headers_part_is_accepted_with_a_flag():
    head = SPAM_A.split(b"\r\n\r\n")[0]
    raw = (b"From: r@x\r\nTo: s@y\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n" + head + b"\r\n--b--\r\n")
    [got] = extract_spams(raw)
    assert got.how == "headers" and b"192.0.2.55" in got.raw
    assert [f.code for f in got.flags] == ["headers_only"]


@pytest.mark.parametrize(
    "marker",
    [
        b"-------- Forwarded Message --------",
        b"---------- Forwarded message ---------",
        b"Begin forwarded message:",
        b"-----Original Message-----",
    ],
)
def test_inline_forward_fallback_is_flagged(marker):
    body = b"Look at this one.\r\n\r\n" + marker + b"\r\n" + SPAM_A
    raw = b"From: r@x\r\nTo: s@y\r\nSubject: Fwd: buy now\r\n\r\n" + body
    [got] = extract_spams(raw)
    assert got.how == "inline"
    assert b"192.0.2.55" in got.raw and got.raw.startswith(b"Received:")
    assert [f.code for f in got.flags] == ["inline_forward"]


def test_inline_forward_quoted_with_greater_than():
    quoted = b"".join(b"> " + line for line in SPAM_A.splitlines(keepends=True))
    raw = b"From: r@x\r\nTo: s@y\r\n\r\nfyi\r\n-------- Original Message --------\r\n" + quoted
    [got] = extract_spams(raw)
    assert got.raw.startswith(b"Received: from bad.example")


def test_pasted_headers_as_body_are_inline():
    raw = b"From: r@x\r\nTo: s@y\r\n\r\n" + SPAM_A
    [got] = extract_spams(raw)
    assert got.how == "inline"


@pytest.mark.parametrize(
    "body",
    [
        b"just some words\r\n",
        b"",
        b"-------- Forwarded Message --------\r\nnot a header block at all\r\n",
        b"Subject: only one line that looks like a header\r\n",
    ],
)
def test_no_spam_raises_with_help(body):
    with pytest.raises(NoSpamAttached) as e:
        extract_spams(b"From: r@x\r\nTo: s@y\r\n\r\n" + body)
    assert "as an attachment" in e.value.message.lower()


def test_content_type_parsing():
    assert content_type(None) == ("text/plain", {})
    assert content_type('Multipart/Mixed; BOUNDARY="a b"') == ("multipart/mixed", {"boundary": "a b"})
    assert content_type("garbage")[0] == "text/plain"


def test_split_multipart_without_close_delimiter_keeps_parts():
    parts = split_multipart(b"pre\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n", "b")
    assert parts == [b"\r\none", b"\r\ntwo\r\n"]


def test_inline_forward_returns_none_for_plain_text():
    assert inline_forward(b"Hi,\r\nplease see below\r\n") is None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_anything_but_bad_input(data):
    try:
        got = extract_spams(b"From: a@b\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n" + data)
    except NoSpamAttached:
        return
    assert all(isinstance(g.raw, bytes) and g.raw for g in got)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300).filter(lambda b: b"--Q" not in b), min_size=1, max_size=5))
def test_split_multipart_roundtrip(chunks):
    body = b"".join(b"--Q\r\n" + c + b"\r\n" for c in chunks) + b"--Q--\r\n"
    assert split_multipart(body, "Q") == chunks


def test_every_corpus_feedback_report_is_one_report(corpus):
    from mailrep.intake.forward import feedback_reports

    files = [p for p in sorted((corpus / "arf").rglob("*")) if p.suffix in (".eml", ".msg")]
    assert len(files) >= 60
    for p in files:
        raw = p.read_bytes()
        assert feedback_reports(raw) == [raw], p.name


def test_spam_is_not_a_feedback_report(corpus):
    from mailrep.intake.forward import NoFeedbackReport, feedback_reports

    for p in sorted((corpus / "messages" / "spam").iterdir())[:50]:
        with pytest.raises(NoFeedbackReport):
            feedback_reports(p.read_bytes())


_tok = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._+", min_size=1, max_size=12)
_qval = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20).map(
    lambda v: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"')


@settings(max_examples=300, deadline=None)
@given(_tok, _tok, st.lists(st.tuples(_tok, st.one_of(_tok, _qval)), max_size=4), st.sampled_from(["; ", ";", " ; "]))
def test_content_type_fast_path_agrees_with_the_standard_library(maintype, subtype, params, sep):
    from mailrep.intake.forward import _content_type_stdlib

    value = f"{maintype}/{subtype}" + "".join(f"{sep}{k}={v}" for k, v in params)
    assert content_type(value) == _content_type_stdlib(value)


def _split_reference(body: bytes, boundary: str) -> list[bytes]:
    """RFC 2046 delimiter lines as a regex: the model the byte-searching splitter must match."""
    import re

    delim = re.compile(rb"(?:\r\n|\n|^)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?=\r\n|\n|$)", re.M)
    parts: list[bytes] = []
    start = None
    for m in delim.finditer(body):
        if start is not None:
            parts.append(body[start:m.start()])
        if m.group(1):
            return parts
        nl = body.find(b"\n", m.end())
        start = len(body) if nl < 0 else nl + 1
    if start is not None:
        parts.append(body[start:])
    return parts


_piece = st.sampled_from([b"--b", b"--b--", b"\r\n", b"\n", b"\r", b" ", b"\t", b"-", b"x", b"b", b"--bb", b"\r\n--b\r\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_piece, max_size=25))
def test_split_multipart_matches_the_rfc_2046_regex(pieces):
    body = b"".join(pieces)
    assert split_multipart(body, "b") == _split_reference(body, "b")
