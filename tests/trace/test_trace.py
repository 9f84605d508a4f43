"""The Trace value: ARF reports traced through their embedded original, the wire form,
--explain, and the guarantee that a failing step becomes a flag."""

from __future__ import annotations

import json

import pytest

from mailrep.trace import TrustConfig, trace_message
from mailrep.trace import trace as trace_module
from mailrep.trace.explain import explain

DATE = "Mon, 11 Oct 2010 14:00:00 +0000"


def received(helo: str, ip: str, by: str) -> str:
    return f"Received: from {helo} ({helo} [{ip}]) by {by} (Postfix) with ESMTP id Q1; {DATE}\n"


ORIGINAL = (
    received("mx1.isp.example", "198.51.100.10", "store.isp.example")
    + received("edge.isp.example", "198.51.100.11", "mx1.isp.example")
    + received("spam.example.net", "203.0.113.99", "edge.isp.example")
    + "From: offers@spam.example.net\nSubject: cheap\n\nbuy at http://pills.example.net/x\n"
)


def arf(original: str | None, *, source_ip: str | None = "203.0.113.99", kind: str = "message/rfc822") -> bytes:
    fields = "Feedback-Type: abuse\nUser-Agent: TestFBL/1.0\nVersion: 1\n" + (f"Source-IP: {source_ip}\n" if source_ip else "")
    parts = [
        "--B\nContent-Type: text/plain\n\nThis is an abuse report.\n",
        f"--B\nContent-Type: message/feedback-report\n\n{fields}",
    ]
    if original is not None:
        parts.append(f"--B\nContent-Type: {kind}\n\n{original}")
    return (
        "From: fbl@isp.example\nSubject: complaint\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\n\n'
        + "".join(parts) + "--B--\n"
    ).encode()


def codes(t) -> list[str]:
    return [f.code for f in t.flags]


def test_arf_source_ip_below_the_traced_source_wins():
    """Inference stops at the ISP's own public relay; the report says who really sent it."""
    t = trace_message(arf(ORIGINAL))
    assert t.arf is not None and t.arf.feedback_type == "abuse"
    assert t.source_ip == "203.0.113.99"
    assert "arf_source_ip" in codes(t)
    assert [h.trusted for h in t.hops] == [True, True, False]
    assert t.urls and t.urls[0].domain == "example.net"  # URLs of the embedded spam


def test_arf_with_mailhosts_agrees_without_a_flag():
    t = trace_message(arf(ORIGINAL), config=TrustConfig.from_mailhosts("198.51.100.0/24"))
    assert t.source_ip == "203.0.113.99"
    assert "arf_source_ip" not in codes(t) and "arf_source_mismatch" not in codes(t)


def test_arf_source_ip_elsewhere_is_flagged_not_taken():
    t = trace_message(arf(ORIGINAL, source_ip="192.0.2.200"), config=TrustConfig.from_mailhosts("198.51.100.0/24"))
    assert t.source_ip == "203.0.113.99"
    detail = next(f.detail for f in t.flags if f.code == "arf_source_mismatch")
    assert "192.0.2.200" in detail and "nowhere" in detail


def test_arf_falls_back_to_source_ip():
    t = trace_message(arf("From: a@b.example\nSubject: no received\n\nx\n"))
    assert t.source_ip == "203.0.113.99" and "Source-IP" in t.source_reason
    assert "no Received" in t.source_reason  # the embedded message's own reason is kept
    t = trace_message(arf(None))
    assert t.source_ip == "203.0.113.99" and "no original" in t.source_reason
    t = trace_message(arf(None, source_ip=None))
    assert t.source_ip is None and t.arf is not None


def test_arf_headers_only_original():
    headers_only = ORIGINAL.split("\n\n", 1)[0] + "\n"
    t = trace_message(arf(headers_only, kind="text/rfc822-headers"), config=TrustConfig.from_mailhosts("198.51.100.0/24"))
    assert t.source_ip == "203.0.113.99" and len(t.hops) == 3


def test_not_arf_is_flagged_and_traced_plainly():
    raw = (
        received("spam.example.net", "203.0.113.7", "mx.example.org")
        + 'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\n\n--B\nContent-Type: text/plain\n\nnothing\n--B--\n'
    ).encode()
    t = trace_message(raw)
    assert "not_arf" in codes(t)
    assert t.arf is None and t.source_ip == "203.0.113.7"


def test_to_dict_is_stable_json():
    t = trace_message(arf(ORIGINAL))
    d = t.to_dict()
    assert list(d) == ["source", "hops", "flags", "urls", "arf", "error"]
    assert d["source"] == {"ip": "203.0.113.99", "reason": t.source_reason}
    assert [h["ip"] for h in d["hops"]] == ["198.51.100.10", "198.51.100.11", "203.0.113.99"]
    assert list(d["hops"][0]) == ["ip", "rdns", "helo", "by", "ident", "envfrom", "id", "auth", "date", "trusted", "why", "header"]
    assert d["arf"]["feedback_type"] == "abuse"
    assert json.loads(json.dumps(d)) == d


def test_explain_walks_the_same_decision():
    t = trace_message(arf(ORIGINAL))
    text = explain(t, name="report.eml")
    assert text.startswith("== report.eml\n")
    assert "ARF report" in text
    assert text.count("[trusted  ]") == 2 and text.count("[UNTRUSTED]") == 1
    assert "Source: 203.0.113.99" in text and "arf_source_ip" in text
    assert "pills.example.net" in text


def test_a_failing_step_becomes_a_flag(monkeypatch):
    def boom(msg, **kwargs):
        raise RuntimeError("bug in the URL extractor")

    monkeypatch.setattr(trace_module, "extract_urls", boom)
    t = trace_message(ORIGINAL.encode())
    assert t.source_ip == "198.51.100.10"
    assert t.urls == []
    assert any(f.code == "internal_error" and "bug in the URL extractor" in f.detail for f in t.flags)


@pytest.mark.parametrize("bad", [b"", b"\x00\x01binary", b"no colon line\n\nbody"])
def test_not_mail_is_the_only_exception(bad):
    from mailrep.errors import NotMail

    with pytest.raises(NotMail):
        trace_message(bad)


def test_a_bug_in_the_walk_still_gives_a_trace(monkeypatch):
    def boom(hops, config):
        raise ValueError("walk bug")

    monkeypatch.setattr(trace_module, "walk", boom)
    t = trace_message(ORIGINAL.encode())
    assert t.source_ip is None and "internal error" in t.source_reason
    assert any(f.code == "internal_error" and "walk bug" in f.detail for f in t.flags)


def test_naive_now_is_taken_as_utc():
    from datetime import datetime

    raw = received("a", "8.8.8.8", "b").replace(DATE, "Tue, 12 Oct 2010 09:00:00 +0000") + "\n"
    t = trace_message(raw.encode(), now=datetime(2010, 10, 12, 7, 0))
    assert "date_future" in codes(t)
    t = trace_message(raw.encode(), now=datetime(2010, 10, 12, 8, 30))
    assert "date_future" not in codes(t)
