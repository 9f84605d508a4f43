"""The bonded sender rule (policy.bond): table tests and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.errors import BadInput
from mailrep.policy.bond import (
    BondConfig,
    Category,
    Complaint,
    Hold,
    Status,
    Trust,
    allowance,
    check_name,
    complaint_rate,
    domain_matches,
    on_allowlist,
    plan_debits,
    standing,
    trace_domains,
    wl_a,
)

AT = datetime(2026, 11, 1, tzinfo=UTC)
CFG = BondConfig()


def complaints(n: int, first_id: int = 1) -> list[Complaint]:
    return [Complaint(AT + timedelta(hours=i), first_id + i) for i in range(n)]


def test_defaults_from_the_issue():
    cfg = BondConfig.from_section({})
    assert cfg.complaint_rate_threshold == Decimal("0.001") and cfg.window_days == 30
    assert cfg.debit_per_complaint == 2000 and cfg.minimum_balance == 100000 and cfg.currency == "USD"


def test_config_from_section():
    cfg = BondConfig.from_section({"complaint_rate_threshold": "0.002", "debit_per_complaint": "5.50",
                                   "minimum_balance": 0, "currency": "eur", "min_complaints": 1})
    assert cfg.complaint_rate_threshold == Decimal("0.002") and cfg.debit_per_complaint == 550
    assert cfg.minimum_balance == 0 and cfg.currency == "EUR" and cfg.min_complaints == 1


@pytest.mark.parametrize("section", [
    {"complaint_rate_threshold": 0.001},  # float
    {"debit_per_complaint": 20.0},
    {"debit_per_complaint": "0.001"},
    {"window_days": 0}, {"window_days": 1.5}, {"currency": "dollars"}, {"nope": 1},
    {"complaint_rate_threshold": "1"}, {"min_complaints": -1},
])
def test_bad_config(section):
    with pytest.raises(BadInput):
        BondConfig.from_section(section)


@pytest.mark.parametrize("volume, threshold, allowed", [
    (2000, "0.001", 2), (2999, "0.001", 2), (3000, "0.001", 3), (0, "0.001", 0), (999, "0.001", 0),
    (10**12, "0.001", 10**9), (7, "0.5", 3), (-5, "0.001", 0), (3, "0.1", 0), (10, "0.1", 1),
])
def test_allowance(volume, threshold, allowed):
    assert allowance(volume, BondConfig(complaint_rate_threshold=Decimal(threshold))) == allowed


def test_complaint_rate_is_exact():
    assert complaint_rate(5, 2000) == Decimal("0.0025") and complaint_rate(1, 0) is None


@pytest.mark.parametrize("n, volume, debited, new", [
    (5, 2000, set(), (3, 4, 5)),        # the issue's example: allowance 2 -> 3 debits
    (5, 2000, {3, 4, 5}, ()),           # recompute: nothing more
    (5, 2000, {3}, (4, 5)),             # half-done: the rest
    (6, 2000, {3, 4, 5}, (6,)),         # one more complaint
    (2, 0, set(), ()),                  # under min_complaints (3): no debit at all
    (3, 0, set(), (1, 2, 3)),           # at the floor, no volume: every one
    (5, 10_000, set(), ()),             # within the allowance (10)
    (5, 4000, {1, 2, 3}, ()),           # debited before the volume grew: never more than owed
    (5, 2000, {1}, (3, 4)),             # an earlier debit counts against what is owed
])
def test_plan_debits(n, volume, debited, new):
    plan = plan_debits(complaints(n), volume, debited, CFG)
    assert plan.new == new


def test_plan_reports_the_numbers():
    plan = plan_debits(complaints(5), 2000, {3}, CFG)
    assert (plan.complaints, plan.volume, plan.allowance, plan.owed, plan.debited) == (5, 2000, 2, 3, 1)


def test_plan_orders_by_arrival_not_by_input():
    cs = list(reversed(complaints(5)))
    assert plan_debits(cs, 2000, set(), CFG).new == (3, 4, 5)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 40), st.integers(0, 50_000), st.sets(st.integers(1, 40)), st.integers(0, 5))
def test_recompute_never_debits_twice_nor_beyond_what_is_owed(n, volume, debited, floor):
    cfg = BondConfig(min_complaints=floor)
    cs = complaints(n)
    plan = plan_debits(cs, volume, debited, cfg)
    assert not set(plan.new) & debited
    assert len(set(plan.new)) == len(plan.new)
    in_window = {c.report_id for c in cs}
    assert len(plan.new) + len(debited & in_window) <= max(plan.owed, len(debited & in_window))
    # applying the plan and planning again adds nothing
    assert plan_debits(cs, volume, debited | set(plan.new), cfg).new == ()


@pytest.mark.parametrize("status, hold, balance, traps, want", [
    ("approved", None, 494000, 0, ("approved", None)),
    ("approved", None, 99999, 0, ("suspended", "policy")),
    ("approved", None, 200000, 11, ("suspended", "policy")),
    ("approved", None, 200000, 10, ("approved", None)),
    ("suspended", "policy", 100000, 0, ("approved", None)),     # a deposit brings it back
    ("suspended", "policy", 100000, 11, ("suspended", "policy")),
    ("suspended", "deputy", 500000, 0, ("suspended", "deputy")),  # only a deputy lifts it
    ("pending", None, 500000, 0, ("pending", None)),
    ("expelled", None, 500000, 0, ("expelled", None)),
])
def test_standing(status, hold, balance, traps, want):
    s = standing(status, hold, balance, traps, CFG)
    assert (s.status.value, s.hold.value if s.hold else None) == want
    assert bool(s.reason) == ((s.status, s.hold) != (Status(status), Hold(hold) if hold else None))


@pytest.mark.parametrize("status, balance, listed", [
    ("approved", 100000, True), ("approved", 99999, False), ("pending", 10**9, False),
    ("suspended", 10**9, False), ("expelled", 10**9, False),
])
def test_on_allowlist(status, balance, listed):
    assert on_allowlist(status, balance, CFG) is listed


def test_wl_a_is_dnswl_encoding():
    assert wl_a(Category.MARKETING, Trust.MEDIUM) == "127.0.15.2"
    assert wl_a(3, 0) == "127.0.3.0"
    assert Category.parse("esp") is Category.ESP and Category.parse("15") is Category.MARKETING
    with pytest.raises(BadInput):
        Category.parse("spam")
    with pytest.raises(ValueError):
        wl_a(1, 2)


@pytest.mark.parametrize("name, ok", [("acme", True), ("Bulk.Example", True), ("a", True),
                                      ("-x", False), ("a b", False), ("a$", False), ("", False),
                                      ("x" * 65, False)])
def test_names(name, ok):
    if ok:
        assert check_name(name) == name.lower()
    else:
        with pytest.raises(BadInput):
            check_name(name)


def test_domains():
    assert domain_matches("mta7.mail.acme.example.", {"acme.example"})
    assert domain_matches("acme.example", {"acme.example"})
    assert not domain_matches("notacme.example", {"acme.example"})
    assert not domain_matches(None, {"acme.example"})
    trace = {"source": {"ip": "192.0.2.7"}, "hops": [
        {"ip": "10.0.0.1", "rdns": "mx.isp.example", "trusted": True},
        {"ip": "192.0.2.7", "rdns": "mta7.acme.example", "helo": "forged.example", "trusted": False}]}
    assert trace_domains(trace) == {"mta7.acme.example"}
    assert trace_domains({"source": {"ip": None}, "hops": []}) == set()
