"""An organisation (an enrolled sender) as a reputation entity, over the store (SQLite and
PostgreSQL): its addresses summed into one score, its domains beside them, per-domain days."""

from __future__ import annotations

from datetime import timedelta

from mailrep.policy.reputation import Day, RepConfig, reputation
from mailrep.store.tables import trap_hits
from tests.services.test_reputation import NOW, _n, complaint, svc, vol

ORG_NETS = ["192.0.2.0/24"]
ORG_DOMAINS = ["acme.example", "acme-news.example"]


def trap(db, ip, domain, at=NOW):
    trace = {"urls": [{"url": f"http://{domain}/x", "host": domain, "domain": domain}]}
    with db.transaction() as conn:
        conn.execute(trap_hits.insert().values(received_at=at, sha256="1" * 64, raw_z=b"", source_ip=ip,
                                               trace_json=trace, trap_address="t@example.org",
                                               dedupe_key=f"t{next(_n)}"))


def _seed(db):
    s = svc(db)
    s.bond.enrol("acme", NOW, networks=ORG_NETS, domains=ORG_DOMAINS)
    vol(db, "192.0.2.1", 5000)
    vol(db, "192.0.2.2", 3000)
    vol(db, "198.51.100.1", 10_000)  # not acme's
    for _ in range(2):
        complaint(db, "192.0.2.1", at=NOW - timedelta(hours=1), domain="acme.example")
    complaint(db, "198.51.100.1", at=NOW - timedelta(hours=1), domain="acme-news.example")  # its domain, not its IP
    trap(db, "198.51.100.1", "acme.example", at=NOW - timedelta(hours=2))
    s.reputation.recompute(NOW)
    return s


def test_organisation_sums_its_addresses_and_lists_its_domains(db):
    s = _seed(db)
    org = s.organisations.view(s.bond.get("acme", NOW), NOW)
    assert org["organisation"] == "acme" and org["networks"] == ORG_NETS
    assert org["volume"] == {"day": 8000, "month": 8000}
    assert org["complaints"] == {"day": 2, "month": 2}  # the other network's complaint is not acme's
    # the same model over the summed days, against the same world (18,000 messages)
    expected = reputation([Day(NOW.date(), 8000, 0, 2, 0, 0)], [Day(NOW.date(), 18_000)], NOW,
                          first_seen=NOW.date(), cfg=RepConfig())
    assert org["score"] == expected.score and org["confidence"] == expected.confidence
    assert org["magnitude"]["day"] == expected.magnitude_day
    assert any(e["factor"] == "complaints" for e in org["explanation"])
    ips = {i["ip"]: i for i in org["ips"]}
    assert set(ips) == {"192.0.2.1", "192.0.2.2"}
    assert ips["192.0.2.1"]["volume_day"] == 5000 and ips["192.0.2.1"]["complaints_day"] == 2
    assert ips["192.0.2.2"]["score"] is not None and ips["192.0.2.2"]["listed"] is False
    doms = {d["domain"]: d for d in org["domains"]}
    assert doms["acme.example"]["complaints_day"] == 2 and doms["acme.example"]["trap_hits_day"] == 1
    assert doms["acme-news.example"]["complaints_day"] == 1
    assert [h["volume"] for h in org["history"]] == [8000]


def test_domain_days_per_domain_per_day(db):
    s = _seed(db)
    rows = s.organisations.domain_days([*ORG_DOMAINS, "unseen.example"], NOW)
    got = {(r["domain"], r["day"]): r for r in rows}
    assert set(got) == {("acme.example", NOW.date().isoformat()), ("acme-news.example", NOW.date().isoformat())}
    assert got[("acme.example", NOW.date().isoformat())]["complaints"] == 2
    assert got[("acme.example", NOW.date().isoformat())]["trap_hits"] == 1
    assert all(r["volume"] is None for r in rows)
    assert s.organisations.domain_days([], NOW) == []


def test_an_organisation_without_data_has_no_score(db):
    s = svc(db)
    s.bond.enrol("quiet", NOW, networks=["203.0.113.0/24"], domains=["quiet.example"])
    org = s.organisations.view(s.bond.get("quiet", NOW), NOW)
    assert org["score"] is None and org["confidence"] == "none" and org["ips"] == []
    assert org["domains"] == [{"domain": "quiet.example", "score": None, "confidence": "none", "complaints_day": 0,
                               "trap_hits_day": 0}]
