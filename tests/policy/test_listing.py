"""The listing state machine (policy.listing): table-driven rules and hypothesis properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailrep.errors import BadInput, Conflict, NotAllowed
from mailrep.policy.config import PolicyConfig, parse_networks
from mailrep.policy.listing import Action, Listing, Manual, State, decide
from mailrep.policy.score import Evidence, ReportRow

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CFG = PolicyConfig()
IP = "45.33.1.2"
H = timedelta(hours=1)


def reports(*spec: tuple[float, int]) -> Evidence:
    return Evidence(reports=[ReportRow(NOW - h * H, r) for h, r in spec])


TWO = reports((0, 1), (1, 2))
THREE = reports((0, 1), (1, 2), (2, 3))
TRAP = Evidence(traps=[NOW - H])


@pytest.mark.parametrize(
    "case, prev, evidence, at, state, n_events",
    [
        ("nothing stays unlisted", Listing(IP), Evidence(), NOW, State.UNLISTED, 0),
        ("one reporter never lists", Listing(IP), reports((0, 1), (0, 1), (0, 1)), NOW, State.UNLISTED, 0),
        ("two reporters list", Listing(IP), TWO, NOW, State.LISTED, 1),
        ("a trap hit lists", Listing(IP), TRAP, NOW, State.LISTED, 1),
        ("reserved never listed", Listing("10.1.2.3"), TWO, NOW, State.UNLISTED, 0),
        ("documentation never listed", Listing("2001:db8::1"), TRAP, NOW, State.UNLISTED, 0),
        ("loopback v6 never listed", Listing("::1"), TRAP, NOW, State.UNLISTED, 0),
        ("IPv6 lists", Listing("2a00:1450:4001::1"), TWO, NOW, State.LISTED, 1),
        ("exempt stays exempt", Listing(IP, State.EXEMPT, manual=True), THREE, NOW, State.EXEMPT, 0),
        ("delisted ignores old evidence", Listing(IP, State.DELISTED, delisted_at=NOW), THREE, NOW + H,
         State.DELISTED, 0),
        ("2-report listing ends by 12 h", Listing(IP, State.LISTED, listed_since=NOW, expires_at=NOW + 11 * H),
         TWO, NOW + 12 * H, State.UNLISTED, 1),
        ("3-report listing holds at 20 h", Listing(IP, State.LISTED, listed_since=NOW, expires_at=NOW + 24 * H),
         THREE, NOW + 20 * H, State.LISTED, 0),
        ("3-report listing expires at 24 h after the last", Listing(IP, State.LISTED, listed_since=NOW),
         THREE, NOW + 24 * H, State.UNLISTED, 1),
        ("manual listing outlives its evidence", Listing(IP, State.LISTED, manual=True, listed_since=NOW,
         expires_at=NOW + 100 * H), Evidence(), NOW + 99 * H, State.LISTED, 0),
        ("manual listing expires", Listing(IP, State.LISTED, manual=True, listed_since=NOW,
         expires_at=NOW + 100 * H), Evidence(), NOW + 100 * H, State.UNLISTED, 1),
    ],
)
def test_automatic_rules(case, prev, evidence, at, state, n_events):
    d = decide(prev, evidence, at, CFG)
    assert d.listing.state == state, case
    assert len(d.events) == n_events, case
    for e in d.events:
        assert (e.old_state, e.new_state, e.actor_role) == (prev.state, state, "policy")
        assert e.reason


def test_listing_expiry_follows_new_evidence():
    d = decide(Listing(IP), THREE, NOW, CFG)
    assert d.listing.expires_at == NOW + 24 * H
    later = Evidence(reports=[*THREE.reports, ReportRow(NOW + 10 * H, 4)])
    d2 = decide(d.listing, later, NOW + 10 * H, CFG)
    assert d2.listing.state == State.LISTED and d2.events == ()
    assert d2.listing.expires_at == NOW + 34 * H
    assert d2.listing.listed_since == NOW  # the listing continues


def test_delisted_stays_off_until_new_evidence_after_the_delisting():
    listed = decide(Listing(IP), THREE, NOW, CFG).listing
    d = decide(listed, THREE, NOW + H, CFG, Manual(Action.DELIST, "wholly erroneous"))
    assert d.listing.state == State.DELISTED and d.listing.delisted_at == NOW + H
    assert [(e.old_state, e.new_state, e.actor_role) for e in d.events] == [
        (State.LISTED, State.DELISTED, "deputy")]
    # the same evidence, re-evaluated later: still off
    assert decide(d.listing, THREE, NOW + 2 * H, CFG).listing.state == State.DELISTED
    # one new report after the delisting is one reporter: still off
    one_new = Evidence(reports=[*THREE.reports, ReportRow(NOW + 3 * H, 1)])
    assert decide(d.listing, one_new, NOW + 3 * H, CFG).listing.state == State.DELISTED
    # two new independent reports after the delisting: listed again
    two_new = Evidence(reports=[*one_new.reports, ReportRow(NOW + 4 * H, 2)])
    d3 = decide(d.listing, two_new, NOW + 4 * H, CFG)
    assert d3.listing.state == State.LISTED
    assert "after the delisting" in d3.events[0].reason
    assert d3.assessment.reports == 2  # the old three do not count


@pytest.mark.parametrize(
    "prev_state, action, new_state",
    [
        (State.UNLISTED, Action.LIST, State.LISTED),
        (State.DELISTED, Action.LIST, State.LISTED),
        (State.LISTED, Action.DELIST, State.DELISTED),
        (State.UNLISTED, Action.DELIST, State.DELISTED),
        (State.LISTED, Action.EXEMPT, State.EXEMPT),
        (State.UNLISTED, Action.EXEMPT, State.EXEMPT),
        (State.EXEMPT, Action.UNEXEMPT, State.UNLISTED),
    ],
)
def test_manual_actions(prev_state, action, new_state):
    prev = Listing(IP, prev_state, manual=prev_state == State.EXEMPT)
    d = decide(prev, Evidence(), NOW, CFG, Manual(action, "  a reason\n with spaces "))
    assert d.listing.state == new_state
    assert len(d.events) == 1
    e = d.events[0]
    assert (e.old_state, e.new_state, e.actor_role, e.reason) == (prev_state, new_state, "deputy",
                                                                    "a reason with spaces")
    if new_state == State.LISTED:
        assert d.listing.manual and d.listing.expires_at == NOW + timedelta(hours=CFG.manual_listing_hours)


def test_unexempt_with_evidence_lists_at_once():
    d = decide(Listing(IP, State.EXEMPT, manual=True), THREE, NOW, CFG, Manual(Action.UNEXEMPT, "no longer"))
    assert [(e.old_state, e.new_state) for e in d.events] == [
        (State.EXEMPT, State.UNLISTED), (State.UNLISTED, State.LISTED)]
    assert d.listing.state == State.LISTED


@pytest.mark.parametrize(
    "prev, manual, error",
    [
        (Listing(IP), Manual(Action.LIST, "   "), BadInput),
        (Listing(IP), Manual(Action.LIST, "x" * 5000), BadInput),
        (Listing(IP), Manual(Action.LIST, "why", actor_role="reporter"), NotAllowed),
        (Listing("192.168.1.1"), Manual(Action.LIST, "why"), NotAllowed),
        (Listing(IP, State.EXEMPT), Manual(Action.LIST, "why"), Conflict),
        (Listing(IP, State.EXEMPT), Manual(Action.DELIST, "why"), Conflict),
        (Listing(IP, State.EXEMPT), Manual(Action.EXEMPT, "why"), Conflict),
        (Listing(IP), Manual(Action.UNEXEMPT, "why"), Conflict),
        (Listing("45.0.0.0/8"), Manual(Action.LIST, "too wide"), BadInput),
        (Listing("2a00::/16"), Manual(Action.LIST, "too wide"), BadInput),
    ],
)
def test_manual_action_errors(prev, manual, error):
    with pytest.raises(error):
        decide(prev, THREE, NOW, CFG, manual)


def test_operator_exemption_networks_are_never_listed_and_lift_a_listing():
    cfg = replace(CFG, exemptions=parse_networks("45.33.0.0/16 2a00:1450::/32"))
    assert decide(Listing(IP), THREE, NOW, cfg).listing.state == State.UNLISTED
    listed = Listing(IP, State.LISTED, listed_since=NOW, expires_at=NOW + 24 * H)
    d = decide(listed, THREE, NOW + H, cfg)
    assert d.listing.state == State.UNLISTED and "exemption" in d.events[0].reason
    with pytest.raises(NotAllowed):
        decide(Listing("45.33.0.0/24"), Evidence(), NOW, cfg, Manual(Action.LIST, "network"))


def test_manual_network_listing_holds_then_expires():
    d = decide(Listing("45.34.0.0/24"), Evidence(), NOW, CFG, Manual(Action.LIST, "snowshoe block"))
    assert d.listing.state == State.LISTED and d.listing.manual
    assert decide(d.listing, Evidence(), d.listing.expires_at - H, CFG).listing.state == State.LISTED
    assert decide(d.listing, Evidence(), d.listing.expires_at, CFG).listing.state == State.UNLISTED


# --- properties --------------------------------------------------------------------------------

ages = st.floats(min_value=-2, max_value=24 * 8, allow_nan=False)  # < 0: stamped in the future
past = st.floats(min_value=0, max_value=24 * 8, allow_nan=False)
trusts = st.floats(min_value=0, max_value=100, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    reporter=st.one_of(st.none(), st.integers(1, 10**6)),
    items=st.lists(st.tuples(ages, trusts), min_size=1, max_size=60),
    volume=st.integers(0, 10**9),
    prev_state=st.sampled_from([State.UNLISTED, State.DELISTED]),
    when=st.floats(min_value=0, max_value=200, allow_nan=False),
)
def test_no_single_reporter_can_list_an_ip(reporter, items, volume, prev_state, when):
    ev = Evidence(reports=[ReportRow(NOW - h * H, reporter, t) for h, t in items], volume=volume)
    d = decide(Listing(IP, prev_state), ev, NOW + when * H, CFG)
    assert d.listing.state != State.LISTED
    assert all(e.new_state != State.LISTED for e in d.events)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(st.tuples(past, st.integers(1, 6), trusts), max_size=40),
    traps=st.lists(past, max_size=12),
    volume=st.integers(0, 10**7),
    manual_first=st.booleans(),
    steps=st.lists(st.floats(min_value=0.01, max_value=30, allow_nan=False), min_size=1, max_size=12),
)
def test_a_listing_always_expires_without_new_evidence(items, traps, volume, manual_first, steps):
    ev = Evidence(reports=[ReportRow(NOW - h * H, r, t) for h, r, t in items],
                  traps=[NOW - h * H for h in traps], volume=volume)
    cur = decide(Listing(IP), ev, NOW, CFG,
                 Manual(Action.LIST, "by hand") if manual_first else None).listing
    if cur.state != State.LISTED:
        return
    assert cur.expires_at is not None and cur.expires_at > NOW
    bound = max(NOW + timedelta(hours=CFG.expiry_hours), cur.expires_at)
    t = NOW
    for step in steps:  # sweeps at arbitrary moments, no new evidence
        t += step * H
        cur = decide(cur, ev, t, CFG).listing
        if t >= bound:
            assert cur.state == State.UNLISTED
    assert decide(cur, ev, bound, CFG).listing.state == State.UNLISTED


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.tuples(ages, st.integers(1, 3)), min_size=2, max_size=2))
def test_a_two_report_listing_lasts_at_most_12_hours(items):
    ev = Evidence(reports=[ReportRow(NOW - abs(h) * H, r) for h, r in items])
    cur = decide(Listing(IP), ev, NOW, CFG).listing
    if cur.state == State.LISTED:
        assert cur.expires_at - cur.listed_since <= timedelta(hours=CFG.short_listing_hours)
        assert decide(cur, ev, cur.listed_since + 12 * H, CFG).listing.state == State.UNLISTED


@settings(max_examples=150, deadline=None)
@given(
    batch=st.lists(st.lists(st.tuples(ages, st.integers(1, 4), trusts), max_size=6), min_size=1, max_size=8),
    traps=st.lists(st.integers(0, 3), min_size=8, max_size=8),
    listed=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_decide_many_equals_decide_for_every_key(batch, traps, listed):
    from mailrep.policy.listing import decide_many

    keys = [f"45.33.1.{i}" for i in range(len(batch))]
    ev = {k: Evidence(reports=[ReportRow(NOW - h * H, r, t) for h, r, t in items],
                      traps=[NOW - H] * traps[i])
          for i, (k, items) in enumerate(zip(keys, batch, strict=True))}
    prev = {k: Listing(k, State.LISTED, listed_since=NOW - H, expires_at=NOW + H)
            for i, k in enumerate(keys) if listed[i]}
    got = {d.listing.key: d for d in decide_many(prev, ev, NOW, CFG)}
    for k in keys:
        full = decide(prev.get(k) or Listing(k), ev[k], NOW, CFG)
        if k in got:
            assert got[k].listing == full.listing and got[k].events == full.events
        else:  # skipped: nothing stored and nothing would change
            assert k not in prev and full.listing.state == State.UNLISTED and full.events == ()
