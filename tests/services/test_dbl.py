"""The domain blocklist service: scan of report URLs, listings, publishing, lookup (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailrep.errors import BadInput
from tests.services.test_services import NOW, report, reporter, svc

H = timedelta(hours=1)
DOMAIN = "cheap-pills.example"


def advertised(*domains: str) -> dict:
    return {"urls": [{"url": f"http://www.{d}/x", "host": f"www.{d}", "domain": d} for d in domains]}


def test_three_reporters_list_a_domain_one_never(db):
    s = svc(db)
    a, b, c = (reporter(db) for _ in range(3))
    for i in range(5):
        report(db, a, at=NOW - i * H, trace_json=advertised(DOMAIN, "bit.ly", "lonely.example"))
    assert s.dbl.scan(NOW) == []
    assert s.dbl.lookup(DOMAIN, NOW)["listed"] is False
    report(db, b, at=NOW, trace_json=advertised(DOMAIN))
    report(db, c, at=NOW, trace_json=advertised(DOMAIN.upper(), "bit.ly"))
    report(db, None, at=NOW, trace_json=None)
    events = s.dbl.scan(NOW)
    assert [(e.key, str(e.new_state)) for e in events] == [(DOMAIN, "listed")]
    assert s.dbl.scan(NOW) == []  # nothing new: the cursor moved past every report
    view = s.dbl.lookup(DOMAIN, NOW)
    assert view["listed"] and view["evidence"]["reporters"] == 3 and view["history"][0]["to"] == "listed"
    assert s.dbl.lookup("bit.ly", NOW)["explanation"]["exempt"]
    assert s.dbl.lookup("lonely.example", NOW)["listed"] is False
    entries = [e for e in s.publish.entries(NOW) if e[0] == "dbl"]
    assert entries == [("dbl", DOMAIN, "127.0.1.2", "Blocked - see http://127.0.0.1:8080/lookup?domain=$")]
    snap = s.publish.snapshot(NOW, s.publish.change_marker())
    assert snap is not None
    # expiry: 24 h after the last evidence the sweep lifts it and the marker moves
    marker = s.publish.change_marker()
    assert [str(e.new_state) for e in s.dbl.sweep(NOW + 25 * H)] == ["unlisted"]
    assert s.publish.change_marker() > marker
    assert [e for e in s.publish.entries(NOW + 25 * H) if e[0] == "dbl"] == []


def test_lookup_rejects_non_domains(db):
    with pytest.raises(BadInput):
        svc(db).dbl.lookup("not a domain", NOW)
