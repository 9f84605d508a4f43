"""The services (store + policy): decisions, lookup, publishing, delisting, accounts, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import threading
import zlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailrep.config import Settings
from mailrep.errors import (
    BadInput,
    Conflict,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    NotListed,
    OverQuota,
)
from mailrep.policy.config import PolicyConfig, parse_networks
from mailrep.policy.counting import CountFacts, decide_count
from mailrep.run import build_services
from mailrep.services import Services
from mailrep.services import blocklist as decisions
from mailrep.store import accounts, audit
from mailrep.store import reports as store_reports
from mailrep.store.tables import reports, trap_hits, volume

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
IP = "45.33.1.2"
_n = iter(range(10**9))


def svc(db, config: PolicyConfig | None = None, *, site_url: str = Settings.site_url) -> Services:
    return build_services(Settings(site_url=site_url), db, config=config)


def reporter(db, name=None, **kw):
    acc, _rep, _secret = svc(db).accounts.add_reporter(name or f"reporter{next(_n)}", NOW - 1000 * H, **kw)
    return acc


def staff(db, role="deputy"):
    with db.transaction() as conn:
        return accounts.create_account(conn, f"{role}{next(_n)}", role, NOW)


def report(db, rep, ip=IP, at=NOW, **kw):
    raw = b"Subject: spam\r\n\r\nbuy\r\n"
    values = dict(reporter_id=None if rep is None else rep.id, channel="http", received_at=at,
                  sha256="0" * 64, raw_z=zlib.compress(raw), raw_size=len(raw), stored_size=len(raw),
                  source_ip=ip, dedupe_key=f"k{next(_n)}")
    values.update(kw)
    with db.transaction() as conn:
        conn.execute(reports.insert().values(**values))


def trap(db, ip=IP, at=NOW, address="trap@example.org"):
    with db.transaction() as conn:
        conn.execute(trap_hits.insert().values(received_at=at, sha256="1" * 64, raw_z=b"", source_ip=ip,
                                               trap_address=address, dedupe_key=f"t{next(_n)}"))


def test_two_reporters_list_and_lookup_is_public_safe(db):
    a, b = reporter(db, "alice-secret-name"), reporter(db, "bob-secret-name")
    marker0 = svc(db).publish.change_marker()
    report(db, a, at=NOW - H)
    report(db, b)
    trap(db, address="hidden-trap@example.org", at=NOW - 2 * H)
    events = svc(db).blocklist.reevaluate([IP, "not-an-ip", IP], NOW)
    assert [(e.key, e.new_state) for e in events] == [(IP, "listed")]
    assert svc(db).publish.change_marker() > marker0
    out = svc(db).lookup.lookup(IP, NOW)
    text = json.dumps(out)
    for secret in ("alice-secret-name", "bob-secret-name", "hidden-trap@example.org", "reporter_id", "trap_address"):
        assert secret not in text
    assert out["ip"] == IP and out["listed"] is True
    assert out["since"] == "2026-11-26T12:00:00Z" and out["expires"] == "2026-11-27T12:00:00Z"
    assert out["evidence"] == {"trap": 1, "user": 2, "mole": 0, "simp": 0, "last_seen": "2026-11-26T12:00:00Z"}
    assert [h["to"] for h in out["history"]] == ["listed"] and out["history"][0]["by"] == "policy"
    assert out["explanation"]["reporters"] == 2 and out["explanation"]["traps"] == 1
    assert out["score"] == pytest.approx(5 + 4 + 3.9375, abs=0.001)
    active = svc(db, site_url="https://bl.example").publish.listed(NOW)
    assert [(x.key, x.family, x.a) for x in active] == [(IP, 4, "127.0.0.2")]
    assert active[0].txt == "Blocked - see https://bl.example/lookup?ip=$"


def test_one_reporter_flooding_never_lists(db):
    a = reporter(db)
    for i in range(30):
        report(db, a, at=NOW - i * 0.1 * H)
    assert svc(db).blocklist.reevaluate([IP], NOW) == []
    assert svc(db).lookup.lookup(IP, NOW)["listed"] is False
    assert svc(db).publish.listed(NOW) == []


@pytest.mark.parametrize(
    "second",
    [
        {"counted": False},  # e.g. the reporter's own mail host or mail older than 2 days
        {"state": "parked"},
        {"at": NOW - 8 * 24 * H},  # older than the window
        {"suspended": True},
    ],
)
def test_reports_that_do_not_count(db, second):
    a, b = reporter(db), reporter(db)
    report(db, a)
    second = dict(second)  # the parameter is shared by both databases' runs
    if second.pop("suspended", False):
        with db.transaction() as conn:
            accounts.update_reporter(conn, b.id, status="suspended")
    report(db, b, **second)
    assert svc(db).blocklist.reevaluate([IP], NOW) == []


def test_volume_holds_the_score_back(db):
    a, b = reporter(db), reporter(db)
    report(db, a)
    report(db, b)
    with db.transaction() as conn:
        conn.execute(volume.insert().values(ip=IP, count=10**6, period_start=NOW - 24 * H, period_end=NOW,
                                            received_at=NOW))
    assert svc(db).blocklist.reevaluate([IP], NOW) == []
    x = svc(db).lookup.explain(IP, NOW)
    assert x["volume"] == 10**6 and x["threshold"] > x["score"]
    for _ in range(3):
        report(db, reporter(db))
    assert [e.new_state for e in svc(db).blocklist.reevaluate([IP], NOW)] == ["listed"]


def test_sweep_expires_a_short_listing_after_12_hours(db):
    report(db, reporter(db))
    report(db, reporter(db))
    svc(db).blocklist.reevaluate([IP], NOW)
    assert svc(db).blocklist.sweep(NOW + 11 * H) == []
    marker = svc(db).publish.change_marker()
    events = svc(db).blocklist.sweep(NOW + 12 * H)
    assert [(e.old_state, e.new_state) for e in events] == [("listed", "unlisted")]
    assert svc(db).publish.change_marker() > marker
    assert svc(db).publish.listed(NOW + 12 * H) == []
    assert [h["to"] for h in svc(db).lookup.lookup(IP, NOW + 12 * H)["history"]] == ["unlisted", "listed"]


def test_manual_actions_history_and_audit(db):
    dep = staff(db)
    out = svc(db).blocklist.manual("list", IP, "seen in our own logs", dep, NOW)
    assert out["listed"] and out["manual"] and out["reason"] == "seen in our own logs"
    out = svc(db).blocklist.manual("delist", IP, "wholly erroneous", dep, NOW + H)
    assert out["state"] == "delisted" and not out["listed"]
    # old-style evidence from before the delisting does not relist
    report(db, reporter(db), at=NOW)
    report(db, reporter(db), at=NOW)
    assert svc(db).blocklist.reevaluate([IP], NOW + 2 * H) == []
    # new evidence after the delisting does
    report(db, reporter(db), at=NOW + 3 * H)
    report(db, reporter(db), at=NOW + 3 * H)
    assert [e.new_state for e in svc(db).blocklist.reevaluate([IP], NOW + 3 * H)] == ["listed"]
    svc(db).blocklist.manual("exempt", IP, "our customer, fixed", dep, NOW + 4 * H)
    assert svc(db).lookup.lookup(IP, NOW + 4 * H)["listed"] is False
    hist = svc(db).lookup.lookup(IP, NOW + 4 * H)["history"]
    assert [(h["to"], h["by"]) for h in hist] == [("exempt", "deputy"), ("listed", "policy"),
                                                 ("delisted", "deputy"), ("listed", "deputy")]
    with db.read() as conn:
        log = audit.entries(conn, target=IP)
    assert [e["action"] for e in log] == ["listing.exempt", "listing.delist", "listing.list"]
    assert all(e["actor"] == dep.name and e["reason"] for e in log)


def test_manual_action_errors(db):
    dep = staff(db)
    with pytest.raises(NotAllowed):
        svc(db).blocklist.manual("list", IP, "why", reporter(db), NOW)
    with pytest.raises(BadInput):
        svc(db).blocklist.manual("list", IP, "  ", dep, NOW)
    with pytest.raises(BadInput):
        svc(db).blocklist.manual("ban", IP, "why", dep, NOW)
    with pytest.raises(BadInput):
        svc(db).blocklist.manual("list", "example.com", "why", dep, NOW)
    with pytest.raises(NotAllowed):
        svc(db).blocklist.manual("list", "192.168.0.1", "why", dep, NOW)
    with pytest.raises(Conflict):
        svc(db).blocklist.manual("unexempt", IP, "why", dep, NOW)
    with db.read() as conn:
        assert audit.entries(conn) == []  # nothing half-done


def test_network_listing_covers_its_addresses(db):
    svc(db).blocklist.manual("list", "45.34.7.0/24", "snowshoe range", staff(db, "admin"), NOW)
    out = svc(db).lookup.lookup("45.34.7.99", NOW)
    assert out["listed"] and out["listing"] == "45.34.7.0/24"
    assert svc(db).lookup.lookup("45.34.8.1", NOW)["listed"] is False
    assert [(x.key, x.family) for x in svc(db).publish.listed(NOW)] == [("45.34.7.0/24", 4)]


def test_ipv6(db):
    ip6 = "2a00:1450:4001:81c::200e"
    report(db, reporter(db), ip=ip6)
    report(db, reporter(db), ip=ip6)
    assert [e.key for e in svc(db).blocklist.reevaluate([ip6.upper()], NOW)] == [ip6]
    assert [(x.key, x.family) for x in svc(db).publish.listed(NOW)] == [(ip6, 6)]
    assert svc(db).lookup.lookup(ip6, NOW)["listed"] is True


def test_operator_exemption_from_config(db):
    cfg = PolicyConfig(exemptions=parse_networks("45.33.0.0/16"))
    report(db, reporter(db))
    report(db, reporter(db))
    assert svc(db, cfg).blocklist.reevaluate([IP], NOW) == []
    assert svc(db, cfg).lookup.explain(IP, NOW)["never_listed"].startswith("operator exemption")


def test_delisting_requests(db):
    report(db, reporter(db))
    report(db, reporter(db))
    svc(db).blocklist.reevaluate([IP], NOW)
    req = svc(db).delisting.request(IP, "postmaster@sender.example", "we fixed the relay", NOW,
                               client_addr="203.0.113.5")
    assert req["status"] == "pending" and "contact_email" not in req
    assert svc(db).delisting.get(req["id"]) == req
    [pending] = svc(db).delisting.find()
    assert pending["contact_email"] == "postmaster@sender.example"
    with pytest.raises(NotAllowed):
        svc(db).delisting.decide(req["id"], True, "ok", reporter(db), NOW)
    dep = staff(db)
    with pytest.raises(BadInput):
        svc(db).delisting.decide(req["id"], True, " ", dep, NOW)
    out = svc(db).delisting.decide(req["id"], True, "relay closed", dep, NOW + H)
    assert out["status"] == "approved" and out["decision_reason"] == "relay closed"
    assert svc(db).lookup.lookup(IP, NOW + H)["listed"] is False
    with pytest.raises(Conflict):
        svc(db).delisting.decide(req["id"], False, "again", dep, NOW + H)
    with pytest.raises(NotFound):
        svc(db).delisting.get("nope")
    with pytest.raises(NotListed):  # delisted: nothing left to delist
        svc(db).delisting.request(IP, "a@b.example", "please", NOW + H, client_addr="203.0.113.5")
    svc(db).blocklist.manual("list", IP, "seen again", dep, NOW + 2 * H)
    r2 = svc(db).delisting.request(IP, "a@b.example", "please", NOW + 2 * H, client_addr="203.0.113.5")
    assert svc(db).delisting.decide(r2["id"], False, "still spamming", dep, NOW + 2 * H)["status"] == "denied"
    assert svc(db).delisting.find() == []


@pytest.mark.parametrize(
    "ip, email, text",
    [("nope", "a@b.example", "x"), (IP, "not-an-email", "x"), (IP, "a@b.example", "  "),
     (IP, "a@b.example", "x" * 5001)],
)
def test_delisting_request_validation(db, ip, email, text):
    with pytest.raises(BadInput):
        svc(db).delisting.request(ip, email, text, NOW)


def test_delisting_requests_are_rate_limited_per_client(db):
    svc(db).blocklist.manual("list", IP, "seen in our logs", staff(db), NOW)
    for _ in range(3):
        svc(db).delisting.request(IP, "a@b.example", "x", NOW, client_addr="198.51.100.1", per_day=3)
    with pytest.raises(OverQuota):
        svc(db).delisting.request(IP, "a@b.example", "x", NOW, client_addr="198.51.100.1", per_day=3)
    svc(db).delisting.request(IP, "a@b.example", "x", NOW, client_addr="198.51.100.2", per_day=3)
    svc(db).delisting.request(IP, "a@b.example", "x", NOW + 25 * H, client_addr="198.51.100.1", per_day=3)


def test_tokens_through_the_service(db):
    secret = svc(db).accounts.create_token("trapfeed", "feed", NOW)
    acc = svc(db).accounts.authenticate(secret)
    assert (acc.name, acc.role) == ("trapfeed", "feed")
    second = svc(db).accounts.create_token("trapfeed", "feed", NOW)
    with pytest.raises(Conflict):
        svc(db).accounts.create_token("trapfeed", "admin", NOW)
    svc(db).accounts.revoke(secret, NOW)
    with pytest.raises(NotAuthenticated):
        svc(db).accounts.authenticate(secret)
    assert svc(db).accounts.authenticate(second).name == "trapfeed"
    rsecret = svc(db).accounts.create_token("isp", "reporter", NOW)
    with db.read() as conn:
        assert accounts.get_reporter(conn, svc(db).accounts.authenticate(rsecret).id).daily_quota == 5000


def test_concurrent_reevaluation_lists_once(db):
    report(db, reporter(db))
    report(db, reporter(db))
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            barrier.wait()
            svc(db).blocklist.reevaluate([IP], NOW)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM listing_events WHERE key = :k"), {"k": IP}).scalar()
    assert n == 1


def test_suspending_a_poisoner_lifts_what_it_caused(db):
    honest, poisoner = reporter(db), reporter(db)
    report(db, honest)
    report(db, poisoner)
    svc(db).blocklist.reevaluate([IP], NOW)
    assert svc(db).lookup.lookup(IP, NOW)["listed"]
    dep = staff(db)
    with pytest.raises(BadInput):
        svc(db).accounts.set_reporter(poisoner.name, " ", dep, NOW, status="suspended")
    with pytest.raises(NotAllowed):
        svc(db).accounts.set_reporter(poisoner.name, "x", honest, NOW, status="suspended")
    rep = svc(db).accounts.set_reporter(poisoner.name, "fake reports", dep, NOW + H, status="suspended")
    assert rep.status == "suspended"
    out = svc(db).lookup.lookup(IP, NOW + H)
    assert out["listed"] is False
    assert out["history"][0]["to"] == "unlisted" and "independent" in out["history"][0]["reason"]
    with db.read() as conn:
        assert audit.entries(conn, target=poisoner.name)[0]["detail"]["status"] == ["active", "suspended"]
    svc(db).accounts.set_reporter(poisoner.name, "cleared", dep, NOW + 2 * H, status="active")
    assert svc(db).lookup.lookup(IP, NOW + 2 * H)["listed"] is True
    svc(db).accounts.set_reporter(poisoner.name, "low quality", dep, NOW + 3 * H, trust_weight=0.0)
    assert svc(db).lookup.lookup(IP, NOW + 3 * H)["listed"] is False


def test_reports_from_the_reporters_own_mailhost_never_count(db):
    own = reporter(db, mailhosts="mx.example.net 45.33.1.0/24")
    verdict = decide_count(CountFacts(IP, mailhosts=("mx.example.net", "45.33.1.0/24")), NOW,
                           max_age=timedelta(hours=48))
    assert (verdict.counted, verdict.reason) == (False, "reporter_own_network")
    report(db, own, counted=verdict.counted, count_reason=verdict.reason)  # as the intake stores it
    report(db, reporter(db))
    assert svc(db).blocklist.reevaluate([IP], NOW) == []
    assert svc(db).lookup.explain(IP, NOW)["reports"] == 1


def test_public_counts_agree_with_the_scoring(db):
    """Counts and scoring read the same rows: stored `counted`, not parked, reporter active."""
    a, b, c = reporter(db), reporter(db), reporter(db)
    report(db, a)
    report(db, b, counted=False, count_reason="too_old")
    report(db, c)
    with db.transaction() as conn:
        accounts.update_reporter(conn, c.id, status="suspended")
    assert svc(db).lookup.lookup(IP, NOW)["evidence"]["user"] == 1
    assert svc(db).lookup.explain(IP, NOW)["reports"] == 1


def test_recompute_applies_a_changed_policy(db):
    for ip in (IP, "45.33.1.3"):
        report(db, reporter(db), ip=ip)
        report(db, reporter(db), ip=ip)
    trap(db, ip="45.33.9.9")
    assert {e.key for e in svc(db).blocklist.recompute(NOW)} == {IP, "45.33.1.3", "45.33.9.9"}
    assert svc(db).blocklist.recompute(NOW) == []  # nothing changed
    strict = PolicyConfig(base_threshold=9.0)
    changed = svc(db, strict).blocklist.recompute(NOW + H)
    # an automatic listing holds until its expiry; the stricter threshold only stops new ones
    assert changed == []
    assert {x.key for x in svc(db).publish.listed(NOW + H)} == {IP, "45.33.1.3", "45.33.9.9"}
    exempt = PolicyConfig(exemptions=parse_networks("45.33.1.0/24"))
    lifted = svc(db, exempt).blocklist.recompute(NOW + H)
    assert {(e.key, e.new_state) for e in lifted} == {(IP, "unlisted"), ("45.33.1.3", "unlisted")}
    assert [x.key for x in svc(db).publish.listed(NOW + H)] == ["45.33.9.9"]
    svc(db).blocklist.manual("list", "45.36.0.1", "by hand", staff(db), NOW)  # a listing without evidence
    late = {(e.key, e.new_state) for e in svc(db).blocklist.recompute(NOW + 200 * H)}
    assert late == {("45.33.9.9", "unlisted"), ("45.36.0.1", "unlisted")}


_example = iter(range(1, 10**6))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ages=st.lists(st.floats(min_value=0, max_value=24 * 8, allow_nan=False), min_size=1, max_size=25),
    trust=st.floats(min_value=0, max_value=100, allow_nan=False),
    anonymous=st.booleans(),
)
def test_one_reporter_never_lists_through_the_store(db, ages, trust, anonymous):
    """End to end (store + policy): whatever one reporter sends, at any trust, the IP stays off."""
    n = next(_example)
    ip = f"45.35.{n // 256}.{n % 256}"
    rep = None
    if not anonymous:
        rep = reporter(db, trust_weight=trust)
    with db.transaction() as conn:
        conn.execute(reports.insert(), [
            {"reporter_id": None if rep is None else rep.id, "channel": "http", "received_at": NOW - h * H,
             "sha256": "0" * 64, "raw_z": b"", "raw_size": 0, "stored_size": 0, "source_ip": ip,
             "dedupe_key": f"p{n}:{i}"}
            for i, h in enumerate(ages)
        ])
    assert svc(db).blocklist.reevaluate([ip], NOW) == []
    assert svc(db).lookup.lookup(ip, NOW)["listed"] is False


def test_a_staff_action_between_the_snapshot_and_the_write_is_not_overwritten(db, monkeypatch):
    """reevaluate decides from a read snapshot; a delisting committed after that snapshot was
    read must stand (the key is decided again under the write lock, from the delisting)."""
    a, b, dep = reporter(db), reporter(db), staff(db)
    report(db, a, at=NOW - H)
    report(db, b)
    trap(db, at=NOW - 2 * H)
    real_load = decisions.evidence.load
    calls = []

    def load_then_delist(conn, keys, now, days):
        out = real_load(conn, keys, now, days)
        if not calls:  # the snapshot read: a deputy delists meanwhile (its own transaction)
            calls.append(keys)
            svc(db).blocklist.manual("delist", IP, "wholly erroneous", dep, NOW)
        return out

    monkeypatch.setattr(decisions.evidence, "load", load_then_delist)
    svc(db).blocklist.reevaluate([IP], NOW + timedelta(minutes=1))
    assert calls == [[IP]]
    out = svc(db).lookup.lookup(IP, NOW + timedelta(minutes=2))
    assert out["listed"] is False and out["state"] == "delisted"


def test_lookup_shows_evidence_not_yet_evaluated_as_pending(db):
    """Stored but not yet evaluated reports never make lookup contradict itself: the state is
    the stored one, the explanation agrees with it and says what is pending."""
    report(db, reporter(db), at=NOW - H)
    report(db, reporter(db))
    with db.transaction() as conn:
        ids = list(conn.execute(sa.select(reports.c.id).where(reports.c.source_ip == IP)).scalars())
        store_reports.enqueue(conn, ids)
    out = svc(db).lookup.lookup(IP, NOW)
    x = out["explanation"]
    assert (out["listed"], out["state"], x["listed"], x["state"]) == (False, "unlisted", False, "unlisted")
    assert x["qualifies"] is True
    assert out["pending"] == {"note": "new evidence being evaluated", "queued_reports": 2, "state": "listed",
                              "listed": True}
    assert x["why"][-1] == "New evidence being evaluated: the next evaluation makes it listed."
    svc(db).blocklist.reevaluate([IP], NOW)
    with db.transaction() as conn:
        store_reports.dequeue(conn, ids)
    out = svc(db).lookup.lookup(IP, NOW)
    assert out["listed"] is True and out["pending"] is None and out["explanation"]["state"] == "listed"
    # an overdue expiry the sweep has not reached yet: not listed, the sweep is pending
    late = svc(db).lookup.lookup(IP, NOW + 13 * H)
    assert (late["listed"], late["state"]) == (False, "unlisted")
    assert late["pending"]["note"] == "re-evaluation due" and late["pending"]["state"] == "unlisted"


def test_network_listing_covers_its_addresses_in_lookup_and_explain(db):
    dep = staff(db)
    svc(db).blocklist.manual("list", "45.33.1.0/24", "snowshoe range", dep, NOW)
    for view in (svc(db).lookup.lookup(IP, NOW + H)["explanation"], svc(db).lookup.explain(IP, NOW + H)):
        assert view["listed"] is True and view["state"] == "listed"
        assert view["covered_by"]["key"] == "45.33.1.0/24" and view["covered_by"]["reason"] == "snowshoe range"
        assert view["covered_by"]["history"][0]["to"] == "listed"
        assert view["why"][0].startswith("Covered by the listing of the network 45.33.1.0/24")
        assert not any("needs at least" in w for w in view["why"])
    req = svc(db).delisting.request(IP, "pm@sender.example", "not us", NOW + H)
    svc(db).delisting.decide(req["id"], True, "reassigned", dep, NOW + 2 * H)  # delists the network
    after = svc(db).lookup.lookup("45.33.1.77", NOW + 2 * H)
    assert after["listed"] is False and after["covered_by"] is None
    assert svc(db).lookup.lookup(IP, NOW + 2 * H)["history"] == []
