"""Must show 2: nothing escapes `trace_message` but `NotMail`, whatever the input.

Every file of the corpus (messages/ recursively and the ARF samples) and a generated stream of
hostile header blocks; on top of "no exception", each result must be internally consistent and
serialisable, and the corpus must not trip an internal error that `trace_message` swallowed.
"""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.errors import NotMail
from mailrep.trace import Trace, TrustConfig, trace_message

CONFIGS = [
    TrustConfig(),
    TrustConfig.from_mailhosts("10.0.0.0/8 192.0.2.0/24 2001:db8::/32 mx.example.com .example.org"),
    TrustConfig.from_sa(trusted_networks=["1/8", "!1.1.1.1"], msa_networks=["1.2.3.4"]),
    TrustConfig(trusted_received=2),
]


def check(raw: bytes, config: TrustConfig = CONFIGS[0]) -> Trace | None:
    try:
        t = trace_message(raw, config=config)
    except NotMail:
        return None
    assert isinstance(t, Trace)
    d = t.to_dict()
    json.dumps(d)  # serialisable
    assert set(d) == {"source", "hops", "flags", "urls", "arf", "error"}
    if t.source_ip is not None:
        ipaddress.ip_address(t.source_ip)
    if t.source_hop is not None:
        assert [h.trusted for h in t.hops[: t.source_hop]] == [True] * t.source_hop
        assert not any(h.trusted for h in t.hops[t.source_hop:])
    for h in d["hops"]:
        assert isinstance(h["trusted"], bool) and h["why"]
    return t


def _files(corpus):
    return sorted(p for sub in ("messages", "arf") for p in (corpus / sub).rglob("*") if p.is_file())


def test_every_corpus_file_traces(corpus):
    files = _files(corpus)
    assert len(files) > 1200
    internal = []
    traced = 0
    for path in files:
        raw = path.read_bytes()
        for config in CONFIGS[:2]:
            t = check(raw, config)
            if t is None:
                continue
            traced += 1
            internal += [f"{path.name}: {f.detail}" for f in t.flags if f.code == "internal_error"]
    assert traced > 2000
    assert not internal, "\n".join(internal)


# ---- generated hostile header blocks --------------------------------------------------------

_ATOMS = st.sampled_from([
    "from", "by", "with", "id", "for", "via", "helo=", "HELO", "EHLO", "(", ")", "[", "]", "<", ">",
    ";", ":", "=", "@", " ", "\t", "\r\n\t", "\n ", "IPv6:", "::", "::1", "fe80::1%eth0", "10.1.2.3",
    "1.2.3.4", "256.1.1.1", "[192.168.0.1]", "2001:db8::25", "::ffff:10.0.0.1", "localhost",
    "mx.example.com", "ESMTPSA", "ESMTPA", "authenticated", "(envelope-from <a@b>)", "\x00", "\x7f",
    "é", "\u202e", "=?utf-8?q?=C3=A9?=", "Mon, 11 Oct 2010 14:00:00 +0000", "Tue, 31 Feb 2099 25:61:61 +9999",
    "(((((((", ")))))))", "[[[[", "\\", "\"", "qmail 1234 invoked", "Exim 4.76", "Postfix",
])


@st.composite
def hostile_value(draw) -> str:
    parts = draw(st.lists(_ATOMS | st.text(max_size=8), max_size=25))
    if draw(st.booleans()):
        n = draw(st.integers(1, 3000))
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(["(", "[", " ", "a", "1.", ":", "from ", "by x "])) * n)
    return "".join(parts)


@st.composite
def hostile_message(draw) -> bytes:
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = []
    if draw(st.booleans()):
        lines.append("From spammer@example.com Mon Oct 11 14:00:00 2010")
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from(["Received", "X-Originating-IP", "X-Yahoo-Post-IP", "Content-Type", "Received", "Subject"]))
        lines.append(f"{name}: {draw(hostile_value())}")
    body = draw(st.sampled_from(["", "http://example.com/x", "<a href=hxxp://evil[.]example>x</a>"]))
    text = eol.join(lines) + eol + eol + body
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        raw += draw(st.binary(max_size=200))
    return raw


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_message(), st.sampled_from(CONFIGS))
def test_hostile_headers_never_escape(raw, config):
    check(raw, config)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_binary_junk_never_escapes(raw):
    check(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"", b"\x00" * 100, b"\n\n\n", b"Received:\n\n", b"Received: from\n\n", b":\n\n",
        b"Received: " + b"(" * 50_000 + b"\n\n",
        b"Received: from " + b"[" * 20_000 + b"1.2.3.4" + b"]" * 20_000 + b" by x\n\n",
        b"X-Originating-IP: " + b"1." * 40_000 + b"\n\n",
        b"".join(b"Received: from a%d ([10.0.0.%d]) by b with SMTP id x; Mon, 11 Oct 2010 14:00:00 +0000\n" % (i, i % 250) for i in range(500)) + b"\n",
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=x\n\n--x\n--x--\n",
    ],
)
def test_edge_inputs(raw):
    t = check(raw)
    if t is not None and raw.count(b"Received:") > 100:
        assert "received_cut" in {f.code for f in t.flags}


def test_benchmark_pathological_set_traces():
    """The generated set of benchmarks/trace.py stays valid input (its timing is the benchmark's)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "trace.py"
    spec = importlib.util.spec_from_file_location("bench_trace", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cases = bench.pathological()
    assert len(cases) > 60 and {kind for kind, _ in cases.values()} == {"headers", "bodies"}
    for name, (_, raw) in cases.items():
        t = check(raw)
        if t is not None:
            assert not [f for f in t.flags if f.code == "internal_error"], name
