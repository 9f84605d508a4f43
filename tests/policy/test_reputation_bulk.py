"""The recompute's bulk scorer (policy.reputation.Scorer) is a copy of reputation(explain=False)
for speed: it must give the same answers, bit for bit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.policy.reputation import FORMULA, Day, RepConfig, Scorer, reputation, world

NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


counts = st.integers(min_value=0, max_value=10**6)
# one row per day, as the recompute gives them (ages up to 40: some outside the 30-day window)
days_st = st.dictionaries(st.integers(0, 40), st.tuples(counts, counts, st.integers(0, 10**4),
                                                        st.integers(0, 10**4), st.integers(0, 100)),
                          max_size=8).map(lambda m: [Day(ago(a), *c) for a, c in m.items()])


@settings(max_examples=400, deadline=None)
@given(days=days_st, first_seen=st.one_of(st.none(), st.integers(0, 400).map(ago)), listed=st.booleans(),
       world_days=days_st, minute=st.integers(0, 24 * 60 - 1), min_volume=st.sampled_from([1, 10, 1000]))
def test_scorer_is_reputation(days, first_seen, listed, world_days, minute, min_volume):
    now = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(minutes=minute)
    cfg = RepConfig(min_volume=min_volume)
    totals = world(world_days, now, cfg)
    r = reputation(days, totals, now, first_seen=first_seen, listed=listed, cfg=cfg, explain=False)
    expected = (r.score, r.confidence, r.magnitude_day, r.magnitude_month, r.day.volume, r.day.complaints,
                r.day.trap_hits, r.day.dns_queries, r.first_seen, r.listed, FORMULA)
    rows = [(d.day, d.volume, d.dns_queries, d.complaints, d.fbl, d.trap_hits) for d in days]
    got = Scorer(totals, now, cfg)(rows, first_seen, listed)
    assert got == expected
    assert [type(x) for x in got] == [type(x) for x in expected]
