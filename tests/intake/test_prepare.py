"""prepare(): hash, trace, cut, age. Pure; tables of cases and a property test."""

from __future__ import annotations

import hashlib
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.errors import NotMail
from mailrep.intake.limits import IntakeLimits
from mailrep.intake.prepare import mail_date, prepare
from mailrep.policy.counting import CountFacts, decide_count
from mailrep.trace.message import read_message
from tests.intake.mail import spam

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AGE = timedelta(hours=48)


def run(raw, keep=50_000, mailhosts=()):
    return prepare(raw, mailhosts=mailhosts, now=NOW, keep_bytes=keep)


def verdict(p):
    """The counting rule over the facts prepare() gathered (what the intake writer decides)."""
    return decide_count(CountFacts(p.source_ip, p.mail_date), NOW, max_age=AGE)


@pytest.mark.parametrize(("age", "counted"), [
    (timedelta(0), True), (timedelta(hours=47, minutes=59), True), (timedelta(hours=48, seconds=1), False),
    (timedelta(days=30), False), (timedelta(hours=-1), True),
])
def test_age_by_first_received(age, counted):
    v = verdict(run(spam("45.5.0.1", when=NOW - age)))
    assert v.counted is counted
    assert (v.reason == "too_old") is (not counted)


def test_date_header_used_when_received_has_no_date():
    raw = (b"Received: from x (x [45.5.0.2]) by mx.example with SMTP\n"
           b"Date: Mon, 01 Jan 2001 00:00:00 +0000\nSubject: hi\n\nbody\n")
    assert mail_date(read_message(raw).headers) == datetime(2001, 1, 1, tzinfo=UTC)
    assert verdict(run(raw)).counted is False


def test_no_date_at_all_counts():
    raw = b"Received: from x (x [45.5.0.3]) by mx.example with SMTP\nSubject: hi\n\nbody\n"
    assert mail_date(read_message(raw).headers) is None
    p = run(raw)
    assert p.source_ip == "45.5.0.3" and verdict(p).counted is True


@pytest.mark.parametrize("keep", [100, 1000, 10_000])
def test_cut_keeps_a_prefix_and_hashes_everything(keep):
    raw = spam("45.5.0.4", when=NOW, body_bytes=20_000)
    p = run(raw, keep=keep)
    assert zlib.decompress(p.raw_z) == raw[:keep]
    assert p.truncated and p.size == len(raw)
    assert p.sha256 == hashlib.sha256(raw).hexdigest()
    assert "truncated" in {f["code"] for f in p.flags}
    assert p.source_ip == "45.5.0.4"  # traced on the whole message, not the cut


def test_small_mail_is_not_cut():
    raw = spam("45.5.0.5", when=NOW)
    p = run(raw)
    assert not p.truncated and zlib.decompress(p.raw_z) == raw


def test_no_source_is_stored_uncounted():
    p = run(b"From: a@example.com\nSubject: no received\n\nhello\n")
    assert p.source_ip is None and verdict(p).counted is False
    assert verdict(p).reason == "no_source"


@pytest.mark.parametrize("raw", [b"", b"\n\n", b"plain words", b"\xff\xfe\x00garbage"])
def test_not_mail(raw):
    with pytest.raises(NotMail):
        run(raw)


def test_limits_from_section():
    lim = IntakeLimits.from_section({"max_bytes": 1000, "keep_bytes": 10, "max_age_hours": 1,
                                     "batch_wait_ms": 5, "operator_mailhosts": ["10.0.0.0/8"]})
    assert (lim.max_bytes, lim.keep_bytes, lim.max_age, lim.batch_wait) == (1000, 10, timedelta(hours=1), 0.005)
    assert lim.operator_mailhosts == ("10.0.0.0/8",)
    assert IntakeLimits.from_section({}) == IntakeLimits()
    from mailrep.errors import BadInput

    with pytest.raises(BadInput):
        IntakeLimits.from_section({"max_bytez": 1})
    with pytest.raises(BadInput):
        IntakeLimits.from_section({"max_bytes": "lots"})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000) | st.text(max_size=2000).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_any_bytes_prepare_or_not_mail(raw):
    try:
        p = run(raw, keep=500)
    except NotMail:
        return
    assert p.sha256 == hashlib.sha256(raw).hexdigest()
    assert len(zlib.decompress(p.raw_z)) == min(len(raw), 500)
    assert isinstance(p.trace, dict)
    if verdict(p).counted:
        assert p.source_ip
