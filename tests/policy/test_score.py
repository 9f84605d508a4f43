"""Table-driven tests of the SCBL arithmetic (policy.score)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from mailrep.errors import BadInput
from mailrep.policy.config import PolicyConfig
from mailrep.policy.score import Evidence, ReportRow, assess, freshness, threshold, trap_term

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CFG = PolicyConfig()


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


@pytest.mark.parametrize(
    "age_hours, weight",
    [
        (0, 4.0),          # newest: 4x
        (12, 3.25),        # linear: 4 - 3 * 12/48
        (24, 2.5),
        (47.999, 1.0000625),
        (48, 1.0),         # 1x at 48 h
        (100, 1.0),        # stays 1x up to a week
        (7 * 24, 1.0),
        (7 * 24 + 0.01, 0.0),  # ignored after a week
        (-5, 4.0),         # from the future: counts as new
    ],
)
def test_freshness(age_hours, weight):
    assert freshness(age_hours, CFG) == pytest.approx(weight)


@pytest.mark.parametrize(
    "hits, term",
    [(0, 0), (1, 5), (2, 10), (5, 25), (6, 36), (7, 49), (10, 100)],  # 5x below 6, squared from 6
)
def test_trap_term(hits, term):
    assert trap_term(hits, CFG) == term


@pytest.mark.parametrize(
    "volume, expected",
    [(0, 2.0), (9, 4.0), (999, 8.0), (999_999, 14.0), (-5, 2.0)],
)
def test_threshold_grows_with_log10_volume(volume, expected):
    assert threshold(volume, CFG) == pytest.approx(expected)


@pytest.mark.parametrize(
    "volume, expected",
    [(1_000_000, 14.0), (2_000_000, 20.0), (10**7, 100.0), (10**9, 10_000.0)],
)
def test_threshold_is_at_least_in_proportion_to_volume(volume, expected):
    """Above ~1.5 million messages a week, one point per `messages_per_point` (100,000) messages."""
    assert threshold(volume, CFG) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    "case, per_reporter, reporters, volume, qualifies",
    [
        ("9 reports from 3 reporters vs 10^7 a week", 3, 3, 10**7, False),
        ("3 reporters, no known volume", 1, 3, 0, True),
        ("3 reporters vs a thousand a week", 1, 3, 1_000, True),
        ("9 reports from 3 reporters vs a million a week", 3, 3, 10**6, True),
        ("3 reporters vs 10^7 a week", 1, 3, 10**7, False),
        ("30 reporters vs 10^7 a week", 1, 30, 10**7, True),
    ],
)
def test_reports_are_held_against_volume(case, per_reporter, reporters, volume, qualifies):
    ev = Evidence(reports=[ReportRow(ago(0.1 * j), r) for r in range(reporters) for j in range(per_reporter)],
                  volume=volume)
    a = assess(ev, NOW, CFG)
    assert a.qualifies is qualifies, (case, a.score, a.threshold)


def test_volume_per_point_is_configurable():
    cfg = PolicyConfig.from_section({"messages_per_point": 1_000_000})
    assert threshold(10**7, cfg) == pytest.approx(16.0)  # the logarithm: max(16, 10)
    with pytest.raises(BadInput):
        PolicyConfig.from_section({"messages_per_point": 0})


def test_threshold_is_monotone_in_volume():
    values = [threshold(v, CFG) for v in (0, 1, 10, 10**3, 10**6, 10**9)]
    assert values == sorted(values) and len(set(values)) == len(values)


@pytest.mark.parametrize(
    "case, reports, traps, volume, score, qualifies, expires_after_last_h",
    [
        ("one fresh report", [(0, 1)], [], 0, 4.0, False, 12),
        ("two reporters fresh", [(0, 1), (1, 2)], [], 0, 4.0 + 3.9375, True, 12),
        ("same reporter twice", [(0, 1), (1, 1)], [], 0, 7.9375, False, 12),
        ("three reports, 24 h expiry", [(0, 1), (0, 2), (0, 3)], [], 0, 12.0, True, 24),
        ("two old reports, weight 1 each", [(60, 1), (61, 2)], [], 0, 2.0, False, 12),  # expired 12 h after
        ("week-old reports ignored", [(200, 1), (200, 2)], [], 0, 0.0, False, None),
        ("one trap lists alone", [], [1], 0, 5.0, True, 24),
        ("trap plus one report", [(0, 1)], [2], 0, 9.0, True, 24),
        ("six traps squared", [], [1, 1, 1, 1, 1, 1], 0, 36.0, True, 24),
        ("volume raises the bar", [(0, 1), (0, 2)], [], 10**6, 8.0, False, 12),
        ("five reporters beat the volume", [(0, i) for i in range(1, 5)], [], 999_999, 16.0, True, 24),
        ("zero-trust reporter is not independent", [(0, 1), (0, 2)], [], 0, 4.0, False, 12),
    ],
)
def test_assess_cases(case, reports, traps, volume, score, qualifies, expires_after_last_h):
    trust = {2: 0.0} if case.startswith("zero-trust") else {}
    ev = Evidence(
        reports=[ReportRow(ago(h), r, trust.get(r, 1.0)) for h, r in reports],
        traps=[ago(h) for h in traps], volume=volume,
    )
    a = assess(ev, NOW, CFG)
    assert a.score == pytest.approx(score), case
    assert a.qualifies is qualifies, case
    if expires_after_last_h is None:
        assert a.expires_at is None and a.last_evidence is None
    else:
        assert a.expires_at - a.last_evidence == timedelta(hours=expires_after_last_h)


def test_per_reporter_cap_limits_one_reporters_weight():
    flood = [ReportRow(ago(0), 1) for _ in range(1000)]
    a = assess(Evidence(reports=flood), NOW, CFG)
    assert a.report_term == pytest.approx(4.0 * CFG.per_reporter_reports)
    assert a.reports == 1000 and a.reporters == 1 and not a.qualifies


def test_trust_weight_multiplies():
    ev = Evidence(reports=[ReportRow(ago(0), 1, 0.5), ReportRow(ago(0), 2, 2.0)])
    assert assess(ev, NOW, CFG).report_term == pytest.approx(4.0 * 0.5 + 4.0 * 2.0)


def test_floor_discards_evidence_up_to_the_delisting():
    ev = Evidence(reports=[ReportRow(ago(5), 1), ReportRow(ago(4), 2), ReportRow(ago(1), 3)], traps=[ago(3)])
    a = assess(ev, NOW, CFG, floor=ago(2))
    assert (a.reports, a.traps, a.last_evidence) == (1, 0, ago(1))
    assert not a.qualifies  # one reporter after the floor


def test_config_constants_change_the_rules():
    cfg = PolicyConfig(fresh_weight=2.0, trap_weight=1.0, trap_square_from=3, base_threshold=1.0,
                       expiry_hours=10, short_listing_hours=5, min_reporters=3)
    ev = Evidence(reports=[ReportRow(ago(0), 1), ReportRow(ago(0), 2)], traps=[ago(0)] * 3)
    a = assess(ev, NOW, cfg)
    assert a.trap_term == 9 and a.report_term == pytest.approx(4.0)
    assert a.expires_at == NOW + timedelta(hours=10)
    two = assess(Evidence(reports=ev.reports), NOW, cfg)
    assert not two.independent  # 2 reporters < min_reporters 3
    assert math.isclose(two.threshold, 1.0)
