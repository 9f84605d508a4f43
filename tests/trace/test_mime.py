"""MIME walking: structure, transfer encodings, charsets, caps, and never raising."""

from __future__ import annotations

import base64
import email
import quopri
from email import policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.trace import mime
from mailrep.trace.message import Flag, read_message


def msg(raw: bytes):
    return read_message(raw)


CONTENT_TYPES = [
    (None, "text/plain", {}),
    ("", "text/plain", {}),
    ("text/HTML; charset=UTF-8", "text/html", {"charset": "UTF-8"}),
    ('multipart/mixed; boundary="a b;c"', "multipart/mixed", {"boundary": "a b;c"}),
    ("multipart/mixed; boundary=simple; charset=x", "multipart/mixed", {"boundary": "simple", "charset": "x"}),
    ('text/plain; name="quoted \\"q\\""', "text/plain", {"name": 'quoted "q"'}),
    ("text/plain;charset=koi8-r;format=flowed", "text/plain", {"charset": "koi8-r", "format": "flowed"}),
    ("text", "text/plain", {}),
    ("Text / Plain ; CHARSET = us-ascii", "text/plain", {"charset": "us-ascii"}),
    ('text/plain; charset="unterminated', "text/plain", {"charset": '"unterminated'}),
    ("message/rfc822; name*0=a; name*1=b", "message/rfc822", {"name": "a"}),
    ("text/plain; charset*=utf-8'en'koi8%2Dr", "text/plain", {"charset": "koi8-r"}),
]


@pytest.mark.parametrize(("value", "ctype", "params"), CONTENT_TYPES)
def test_parse_content_type(value, ctype, params):
    assert mime.parse_content_type(value) == (ctype, params)


TRANSFER = [
    (b"aGVsbG8gd29ybGQ=", "base64", b"hello world"),
    (b"aGVsbG8g\nd29ybGQ=\n", "BASE64", b"hello world"),
    (b"aGVsbG8gd29ybGQ", "base64", b"hello world"),  # missing padding
    (b"aGVs!!bG8g*d29y\x00bGQ=", "base64", b"hello world"),  # junk characters
    (b"aGVsbG8gd29ybGQ=garbage after", "base64", b"hello world"),
    (b"a", "base64", b""),
    (b"caf=C3=A9 soft=\nbreak", "quoted-printable", "café softbreak".encode()),
    (b"soft=\r\nbreak=\rcr", "quoted-printable", b"softbreakcr"),
    (b"bad =ZZ escape", "quoted-printable", b"bad =ZZ escape"),
    (b"plain", "7bit", b"plain"),
    (b"plain", "x-unknown", b"plain"),
    (b"plain", None, b"plain"),
]


@pytest.mark.parametrize(("data", "cte", "expected"), TRANSFER)
def test_decode_transfer(data, cte, expected):
    assert mime.decode_transfer(data, cte) == expected


CHARSETS = [
    ("caf\xe9".encode("latin-1"), "iso-8859-1", "café"),
    ("café".encode(), "UTF-8", "café"),
    ("café".encode(), None, "café"),
    ("caf\xe9".encode("latin-1"), None, "café"),  # undeclared, not UTF-8: Latin-1
    ("caf\xe9".encode("latin-1"), "utf-8", "caf\ufffd"),  # declared UTF-8 but broken
    ("привет".encode("koi8-r"), "koi8-r", "привет"),
    ("привет".encode("cp1251"), '"windows-1251"', "привет"),
    ("日本".encode("iso-2022-jp"), "ISO-2022-JP", "日本"),
    ("中文".encode("gbk"), "gb2312", "中文"),
    ("한국".encode("cp949"), "ks_c_5601-1987", "한국"),
    ("hi".encode("utf-16"), "utf-16", "hi"),
    (b"h\x00i", "utf-16", "h\ufffd"),  # odd length
    (b"hello", "no-such-charset", "hello"),
    (b"hello", "zlib", "hello"),  # a bytes codec, not a text encoding
    (b"hello", "x-unknown", "hello"),
    (b"+AGEAYgBj-", "unicode-1-1-utf-7", "abc"),
]


@pytest.mark.parametrize(("data", "charset", "expected"), CHARSETS)
def test_decode_charset(data, charset, expected):
    assert mime.decode_charset(data, charset) == expected


def test_split_multipart_line_ends_and_close():
    for eol in (b"\n", b"\r\n", b"\r"):
        body = eol.join([b"preamble", b"--B", b"Content-Type: text/plain", b"", b"one", b"--B  ",
                         b"", b"two", b"--B--", b"epilogue --B", b""])
        parts = mime.split_multipart(body, "B")
        assert [mime.parse_part(p).body for p in parts] == [b"one", b"two"], eol
    # the boundary must start a line; text that merely contains it is not a delimiter
    assert mime.split_multipart(b"--B\n\nx --B y\n--B--", "B") == [b"\nx --B y"]
    # no close delimiter: the last part runs to the end
    assert mime.split_multipart(b"--B\n\nlast", "B") == [b"\nlast"]
    assert mime.split_multipart(b"no delimiter at all", "B") == []
    assert mime.split_multipart(b"--B\n" * 1000, "B", limit=3) == [b"", b"", b""]
    assert mime.split_multipart(b"--B\n\nx", "") == []


def test_parse_part_shapes():
    p = mime.parse_part(b"Content-Type: text/html;\n charset=x\n\nbody")
    assert (p.content_type, p.params, p.body) == ("text/html", {"charset": "x"}, b"body")
    p = mime.parse_part(b"\nno headers here")
    assert (p.headers, p.content_type, p.body) == ([], "text/plain", b"no headers here")
    p = mime.parse_part(b"not a header line\nmore text")
    assert p.headers == [] and b"not a header line" in p.body
    p = mime.parse_part(b"X-Only: header")
    assert p.get("x-only") == "header" and p.body == b"" and p.content_type == "text/plain"
    assert mime.parse_part(b"\n", default_type="message/rfc822").content_type == "message/rfc822"


NESTED = (
    b"From: a@example.com\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=OUT\n\n"
    b"--OUT\nContent-Type: multipart/alternative; boundary=\"IN\"\n\n"
    b"--IN\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9\n"
    b"--IN\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
    + base64.encodebytes("<p>café</p>".encode())
    + b"--IN--\n"
    b"--OUT\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n"
    b"--OUT\nContent-Type: text/rfc822-headers\n\nReceived: from x\n"
    b"--OUT\nContent-Type: message/rfc822\n\nFrom: b@example.com\nContent-Type: text/plain\n\ninner text\n"
    b"--OUT\nContent-Type: multipart/digest; boundary=D\n\n--D\n\nSubject: digest item\n\ndigest text\n--D--\n"
    b"--OUT--\n"
)


def test_walk_order_and_depth():
    parts = list(mime.walk(msg(NESTED)))
    assert [(p.content_type, p.depth) for p in parts] == [
        ("multipart/mixed", 0),
        ("multipart/alternative", 1),
        ("text/plain", 2),
        ("text/html", 2),
        ("image/gif", 1),
        ("text/rfc822-headers", 1),
        ("message/rfc822", 1),
        ("text/plain", 2),
        ("multipart/digest", 1),
        ("message/rfc822", 2),
        ("text/plain", 3),
    ]


def test_texts_decodes_and_skips_non_text():
    assert list(mime.texts(msg(NESTED))) == [
        ("plain", "café"),  # the line end before a delimiter belongs to the delimiter
        ("html", "<p>café</p>"),
        ("plain", "inner text"),
        ("plain", "digest text"),
    ]


def test_agrees_with_stdlib_email_on_corpus(corpus):
    """Our text parts match the stdlib parser's on real mail (it is slower, not wiser)."""
    files = sorted((corpus / "messages" / "spam").iterdir())[:150] + sorted((corpus / "messages" / "ham").iterdir())[:150]
    for path in files:
        raw = path.read_bytes()
        ours = [kind for kind, _ in mime.texts(read_message(raw))]
        ref = email.message_from_bytes(raw, policy=policy.compat32)
        theirs = ["html" if p.get_content_type() == "text/html" else "plain"
                  for p in ref.walk() if p.get_content_maintype() == "text"
                  and p.get_content_type() not in mime.HEADER_TYPES]
        assert ours == theirs, path.name


def test_caps_parts_depth_and_bytes():
    many = b"".join(b"--B\nContent-Type: text/plain\n\npart %d\n" % i for i in range(300)) + b"--B--\n"
    flags: list[Flag] = []
    got = list(mime.texts(msg(b"Content-Type: multipart/mixed; boundary=B\n\n" + many), flags=flags))
    assert len(got) == mime.MAX_PARTS - 1
    assert [f.code for f in flags] == ["mime_parts_cut"]

    deep = b"Content-Type: text/plain\n\nbottom\n"
    for _ in range(30):
        deep = b"Content-Type: message/rfc822\n\n" + deep
    flags = []
    assert list(mime.texts(msg(deep), flags=flags)) == []
    assert [f.code for f in flags] == ["mime_depth_cut"]

    flags = []
    big = msg(b"Content-Type: text/plain\n\n" + b"x" * 5000)
    ((kind, text),) = mime.texts(big, max_bytes=1000, flags=flags)
    assert kind == "plain" and len(text) == 1000 and [f.code for f in flags] == ["mime_text_cut"]


def test_multipart_without_boundary_parameter_is_guessed():
    raw = b"Content-Type: multipart/alternative\n\n--guess\nContent-Type: text/html\n\n<b>x</b>\n--guess--\n"
    assert list(mime.texts(msg(raw))) == [("html", "<b>x</b>")]


def test_multipart_whose_boundary_never_occurs():
    # as seen in the SpamAssassin corpus: the delimiter lines differ from the declared boundary
    raw = (b'Content-Type: multipart/alternative; boundary="=Multipart Boundary 1"\n\n'
           b"--= Multipart Boundary 1\nContent-Type: text/html\n\n<p>x</p>\n--= Multipart Boundary 1--\n")
    flags: list[Flag] = []
    assert list(mime.texts(msg(raw), flags=flags)) == [("html", "<p>x</p>")]
    assert [f.code for f in flags] == ["mime_bad_boundary"]
    # nothing that looks like a delimiter at all: the body is read as plain text
    raw = b"Content-Type: multipart/mixed; boundary=nope\n\njust text\n"
    assert list(mime.texts(msg(raw))) == [("plain", "just text\n")]


def test_hostile_corpus_and_sa_fixtures_never_raise(corpus):
    root = corpus / "messages"
    paths = [p for p in root.rglob("*") if p.is_file() and ("hostile" in p.parts or "sa-t-data" in p.parts)]
    assert paths
    for path in paths:
        try:
            m = read_message(path.read_bytes())
        except Exception:
            continue  # read_message's own contract (NotMail) is tested elsewhere
        for part in mime.walk(m):
            part.text()
        list(mime.texts(m))


# Random MIME trees, then random byte mutations of their serialisation.
_leaf = st.tuples(
    st.sampled_from(["text/plain", "text/html", "application/octet-stream", "message/rfc822",
                     "text/rfc822-headers", "text", "multipart/mixed", "", "text/plain; charset=utf-16"]),
    st.sampled_from([None, "base64", "quoted-printable", "8bit", "x-junk"]),
    st.binary(max_size=60),
)


def _tree(depth: int):
    if depth == 0:
        return _leaf
    return st.one_of(_leaf, st.tuples(st.just("multipart"), st.sampled_from(["B1", "B2", "with space", ""]),
                                      st.lists(_tree(depth - 1), max_size=4)))


def _render(node) -> bytes:
    if node[0] == "multipart":
        _, bnd, children = node
        out = b"Content-Type: multipart/mixed; boundary=\"" + bnd.encode() + b"\"\n\n"
        for child in children:
            out += b"--" + bnd.encode() + b"\n" + _render(child) + b"\n"
        return out + b"--" + bnd.encode() + b"--\n"
    ctype, cte, body = node
    out = b"Content-Type: " + ctype.encode() + b"\n"
    if cte:
        out += b"Content-Transfer-Encoding: " + cte.encode() + b"\n"
        if cte == "quoted-printable":
            body = quopri.encodestring(body)
    return out + b"\n" + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tree(3), st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=6)), max_size=5))
def test_random_and_mutated_mime_never_raises(tree, mutations):
    raw = bytearray(b"From: a@example.com\n" + _render(tree))
    for at, junk in mutations:
        at %= len(raw) + 1
        raw[at:at + len(junk)] = junk
    try:
        m = read_message(bytes(raw))
    except Exception:
        return
    flags: list[Flag] = []
    for kind, text in mime.texts(m, flags=flags):
        assert kind in ("plain", "html") and isinstance(text, str)
    assert not [f for f in flags if f.code == "mime_error"]
    for part in mime.walk(m):
        assert isinstance(part.payload(), bytes)
