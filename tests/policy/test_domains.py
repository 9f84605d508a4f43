"""The domain blocklist rule: table tests and properties (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailrep.errors import BadInput
from mailrep.policy.domains import (
    DomainConfig,
    DomainListing,
    decide_domain,
    domains_of,
    normalise_domain,
)
from mailrep.policy.listing import State
from mailrep.policy.score import Evidence, ReportRow

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
CFG = DomainConfig()


def ev(*rows: tuple[float, int | None]) -> Evidence:
    """Reports (hours ago, reporter)."""
    return Evidence(tuple(ReportRow(NOW - h * H, r) for h, r in rows))


@pytest.mark.parametrize(("rows", "listed"), [
    ([], False),
    ([(1, 1)], False),
    ([(1, 1)] * 10, False),                      # one reporter never lists, however often
    ([(1, 1), (1, 2)], False),                   # two are not enough either
    ([(1, 1), (1, 2), (1, 3)], True),            # three independent reporters
    ([(100, 1), (100, 2), (1, 3)], True),        # older reports still count inside the window
    ([(200, 1), (200, 2), (200, 3)], False),     # past the 7-day window
    ([(30, 1), (30, 2), (30, 3)], False),        # last evidence 30 h ago: expired after 24 h
    ([(1, 1), (1, 2), (1, None)], True),         # anonymous reports count as one identity
])
def test_rule(rows, listed):
    d = decide_domain(DomainListing("spam-offers.example"), ev(*rows), NOW, CFG)
    assert d.listing.listed_at(NOW) is listed
    assert (d.event is not None) is listed


def test_listing_expires_24h_after_last_evidence_and_unlists():
    e = ev((0, 1), (0, 2), (0, 3))
    d = decide_domain(DomainListing("spam-offers.example"), e, NOW, CFG)
    assert d.listing.expires_at == NOW + 24 * H
    later = decide_domain(d.listing, e, NOW + 25 * H, CFG)
    assert later.listing.state == State.UNLISTED and later.event is not None
    assert later.event.old_state == State.LISTED


@pytest.mark.parametrize("domain", ["bit.ly", "gmail.com", "mail.google.com", "t.co"])
def test_shared_domains_never_listed(domain):
    d = decide_domain(DomainListing(domain), ev((0, 1), (0, 2), (0, 3), (0, 4)), NOW, CFG)
    assert not d.listing.listed_at(NOW) and d.exempt


def test_config_section():
    cfg = DomainConfig.from_section({"exemptions": ["Example.ORG"], "min_reporters": 4})
    assert cfg.rule.min_reporters == 4 and cfg.exempt_reason("a.example.org")
    assert cfg.exempt_reason("bit.ly")
    assert not DomainConfig.from_section({"bundled_exemptions": False}).exempt_reason("bit.ly")
    with pytest.raises(BadInput):
        DomainConfig.from_section({"min_reporters": 1})
    with pytest.raises(BadInput):
        DomainConfig.from_section({"colour": 1})


def test_domains_of_trace():
    trace = {"urls": [{"domain": "Spam.Example"}, {"domain": ""}, {"domain": "spam.example"},
                      {"domain": "x"}, "junk"]}
    assert domains_of(trace) == ["spam.example"]
    assert domains_of({}) == []


@pytest.mark.parametrize("bad", ["", "x", "a..b", "-" * 64 + ".com", "a b.com"])
def test_normalise_rejects(bad):
    with pytest.raises(BadInput):
        normalise_domain(bad)


reports = st.lists(st.tuples(st.floats(0, 24 * 10), st.integers(1, 2)), max_size=30)


@given(reports)
def test_two_reporters_never_list(rows):
    d = decide_domain(DomainListing("spam-offers.example"), ev(*rows), NOW, CFG)
    assert not d.listing.listed_at(NOW)


@given(st.lists(st.tuples(st.floats(0, 24 * 10), st.integers(1, 6)), max_size=30))
def test_listed_only_with_three_reporters_inside_expiry(rows):
    d = decide_domain(DomainListing("spam-offers.example"), ev(*rows), NOW, CFG)
    if d.listing.listed_at(NOW):
        assert len({r for _, r in rows}) >= 3
        assert min(h for h, _ in rows) < 24
