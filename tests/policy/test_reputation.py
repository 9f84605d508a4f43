"""The reputation model (policy.reputation): hand-computed cases and hypothesis properties."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.errors import BadInput
from mailrep.policy.reputation import (
    FORMULA,
    Day,
    RepConfig,
    a_octet,
    last_24h,
    magnitude,
    reputation,
    wilson,
)

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)  # noon: yesterday's bucket counts half
TODAY = NOW.date()
WORLD = [Day(TODAY, volume=1_000_000)]


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


# Hand computation, formula 1 (defaults): credit(n) = min(5, 1.25 log10(1 + n/100));
# terms(p) = -5 log10(1 + p/0.001) + credit(n) (1 - p/0.003)+ - 3 log10(1 + 1e5 T/n)
#            + 2 min(1, age/180) - 3 [listed]; score = value of [terms(p_hi), terms(p_lo)] nearest 0.
@pytest.mark.parametrize(
    "case, days, kw, score, confidence",
    [
        # 9 < 10 messages: the stated minimum
        ("too little data", [Day(TODAY, volume=9)], {}, None, "none"),
        # p_hi = 1.96^2 / (999990 + 1.96^2) = 3.84e-6: -5 log10(1.00384) = -0.008;
        # credit 1.25 log10(10000.9) = 5.0 (cap) x (1 - 0.00128) = 4.994 -> [4.99, 5.0] -> 5.0
        ("big and clean", [Day(TODAY, volume=999_990)], {}, 5.0, "high"),
        # p = 0.3, Wilson [0.108, 0.603]: -5 log10(1 + 108) = -10.2 -> clamped to -10
        ("small with three complaints", [Day(TODAY, volume=10, complaints=3)], {}, -10.0, "high"),
        # 30 queries stand in for volume; p_hi = 3.84/33.84 = 0.113: low -10; high credit
        # 1.25 log10(1.3) = 0.14 -> the interval spans 0 -> 0.0, low confidence
        ("queried only", [Day(TODAY, dns_queries=30)], {}, 0.0, "low"),
        # p = 0.01, Wilson [0.0098, 0.0102]: -5 log10(10.8) = -5.17, -5 log10(11.2) = -5.25,
        # no volume credit above 0.3 % -> [-5.25, -5.17] -> -5.2
        ("one percent complaints", [Day(TODAY, volume=1_000_000, fbl=10_000)], {}, -5.2, "high"),
        # 5 (volume) + 2 (180 days old) = 7.0
        ("old and clean", [Day(TODAY, volume=1_000_000)], {"first_seen": ago(180)}, 7.0, "high"),
        # 5 - 3 (listed) = 2.0
        ("clean but listed", [Day(TODAY, volume=1_000_000)], {"listed": True}, 2.0, "high"),
        # 10 trap hits in 1e6: -3 log10(2) = -0.90; 5 - 0.90 = 4.1
        ("trap hits", [Day(TODAY, volume=1_000_000, trap_hits=10)], {}, 4.1, "high"),
        # 2000 complaints a half-life (7 days) ago weigh 1000: p = 0.001, Wilson [0.000938,
        # 0.001062]: low = -5 log10(2.062) + 5 (1 - 0.354) = -1.571 + 3.230 = 1.66, plus age
        # 2 x 7/180 = 0.08 (first seen with the complaints) = 1.74 -> 1.7
        ("decayed complaints", [Day(TODAY, volume=1_000_000), Day(ago(7), complaints=2000)], {}, 1.7, "high"),
        # 10000 messages, 10 complaints: p = 0.001, Wilson [0.000543, 0.00184]; credit 2.505;
        # high = -0.942 + 2.052 = 1.11, low = -2.267 + 0.969 = -1.30 -> spans 0 -> 0.0, medium
        ("borderline", [Day(TODAY, volume=10_000, complaints=10)], {}, 0.0, "medium"),
        # evidence older than the 30-day window is gone
        ("outside the window", [Day(ago(30), volume=1_000_000)], {}, None, "none"),
    ],
)
def test_score_table(case, days, kw, score, confidence):
    r = reputation(days, WORLD, NOW, **kw)
    assert r.score == score, case
    assert r.confidence == confidence, case
    assert r.formula == FORMULA
    if score is not None:
        assert r.low is not None and r.high is not None and r.low - 0.051 <= score <= r.high + 0.051
        assert any(f.factor == "complaints" for f in r.explanation)
    else:
        assert r.explanation[0].factor == "data" and "at least 10" in r.explanation[0].text


def test_magnitudes_and_windows():
    r = reputation([Day(TODAY, volume=999_990)], WORLD, NOW)
    assert r.magnitude_day == 10.0 and r.magnitude_month == 10.0
    small = reputation([Day(TODAY, volume=10)], WORLD, NOW)
    assert small.magnitude_day == 5.0  # log10(1e-5) + 10
    assert magnitude(0, 100) is None and magnitude(1, 0) is None and magnitude(10, 1000) == 8.0
    # noon: yesterday's bucket counts half in the last 24 h; the month counts all of it
    two = reputation([Day(ago(1), volume=100, complaints=4), Day(TODAY, volume=50)], [], NOW)
    assert (two.day.volume, two.day.complaints, two.month.volume, two.month.complaints) == (100, 2, 150, 4)
    assert last_24h({TODAY: 1.0, ago(1): 10.0, ago(2): 100.0}, NOW) == 6.0
    assert two.first_seen == ago(1)


def test_wilson_and_a_octet():
    lo, hi = wilson(0.3, 10, 1.96)
    assert (round(lo, 3), round(hi, 3)) == (0.108, 0.603)
    assert wilson(0.0, 30, 1.96)[0] == 0.0
    assert (a_octet(-10.0), a_octet(0.0), a_octet(10.0), a_octet(-3.4)) == (0, 50, 100, 33)


def test_config():
    assert RepConfig.from_section({"min_volume": 5}).min_volume == 5
    with pytest.raises(BadInput):
        RepConfig.from_section({"min_volumes": 5})
    with pytest.raises(BadInput):
        RepConfig(half_life_days=0)


# --- properties ------------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10**6)
day_st = st.builds(Day, st.integers(min_value=0, max_value=19).map(ago), counts, counts,
                   st.integers(0, 10**4), st.integers(0, 10**4), st.integers(0, 100))
days_st = st.lists(day_st, min_size=1, max_size=8)
common = dict(first_seen=st.one_of(st.none(), st.integers(0, 400).map(ago)), listed=st.booleans())


@settings(max_examples=200, deadline=None)
@given(days=days_st, **common)
def test_bounded(days, first_seen, listed):
    r = reputation(days, WORLD, NOW, first_seen=first_seen, listed=listed)
    if r.score is not None:
        assert -10.0 <= r.low <= r.high <= 10.0 and r.low - 0.051 <= r.score <= r.high + 0.051
        assert r.confidence in ("high", "medium", "low")
        assert 0 <= a_octet(r.score) <= 100
    for m in (r.magnitude_day, r.magnitude_month):
        assert m is None or m <= 10.0


@settings(max_examples=200, deadline=None)
@given(days=days_st, which=st.integers(0, 7), more=st.integers(1, 10**4), field=st.sampled_from(
    ["complaints", "fbl", "trap_hits"]), **common)
def test_monotone_in_complaints_and_traps(days, which, more, field, first_seen, listed):
    first_seen = first_seen or ago(19)
    before = reputation(days, WORLD, NOW, first_seen=first_seen, listed=listed)
    i = which % len(days)
    worse = list(days)
    worse[i] = replace(days[i], **{field: getattr(days[i], field) + more})
    after = reputation(worse, WORLD, NOW, first_seen=first_seen, listed=listed)
    if before.score is None:
        assert after.score is None
    else:
        assert after.score <= before.score and after.low <= before.low and after.high <= before.high


@settings(max_examples=200, deadline=None)
@given(days=days_st, shift=st.integers(1, 10), **common)
def test_decaying(days, shift, first_seen, listed):
    """Without new evidence a score never falls as time passes (complaints and trap hits fade)
    while the evidence stays inside the window (the generated days are at most 19 days old)."""
    first_seen = first_seen or ago(19)
    before = reputation(days, WORLD, NOW, first_seen=first_seen, listed=listed)
    after = reputation(days, WORLD, NOW + timedelta(days=shift), first_seen=first_seen, listed=listed)
    assert (before.score is None) == (after.score is None)
    if before.score is not None:
        assert after.score >= before.score
        assert after.low >= before.low - 1e-9 and after.high >= before.high - 1e-9


@settings(max_examples=100, deadline=None)
@given(p=st.floats(0, 1), n=st.floats(0.5, 1e9))
def test_wilson_contains_the_estimate(p, n):
    lo, hi = wilson(p, n, 1.96)
    assert 0.0 <= lo <= hi <= 1.0
    assert lo - 1e-9 <= p <= hi + 1e-9 or math.isclose(lo, p) or math.isclose(hi, p)
