"""Lookup, explain and delisting requests against `mailrep serve` over HTTP: requests only for
listed addresses, network listings explained, one consistent answer while evidence is being
evaluated, volume in proportion, and what is public versus deputy-only."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.intake.mail import spam
from tests.serve_proc import Serve, prepare_db

MAIL = {"Content-Type": "message/rfc822"}
DELISTING = {"contact_email": "postmaster@sender.example", "explanation": "we closed the open relay"}


@pytest.fixture
def served(db_url, tmp_path):
    tokens, other = prepare_db(db_url, reporters=3)
    srv = Serve(tmp_path / "var", db_url).start()
    with httpx.Client(base_url=srv.base, timeout=30) as c:
        yield c, tokens, other
    assert srv.stop() == 0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def manual(c, deputy: str, action: str, key: str, reason: str) -> dict:
    r = c.post("/api/v1/manual-actions", json={"action": action, "key": key, "reason": reason},
               headers=bearer(deputy))
    assert r.status_code == 200, r.text
    return r.json()


def settled(c, ip: str, check, timeout: float = 30.0) -> dict:
    """Poll the public lookup until nothing is pending and `check(answer)` holds; every answer
    on the way must agree with itself."""
    end = time.monotonic() + timeout
    while True:
        out = c.get(f"/api/v1/lookup/{ip}").json()
        assert_consistent(out)
        if out["pending"] is None and check(out):
            return out
        assert time.monotonic() < end, out
        time.sleep(0.05)


def assert_consistent(out: dict) -> None:
    x = out["explanation"]
    assert out["listed"] == x["listed"] and out["state"] == x["state"], out
    assert (out["state"] == "listed") == out["listed"], out
    if x["qualifies"] != out["listed"] and out["covered_by"] is None and out["state"] in ("listed", "unlisted"):
        assert out["pending"] is not None, out  # the evidence says otherwise: shown as pending


def report(c, token: str, ip: str, n: int) -> None:
    r = c.post("/api/v1/reports", content=spam(ip, n=n), headers={**bearer(token), **MAIL})
    assert r.status_code == 202, r.text


def test_delisting_requests_only_for_listed_addresses(served):
    c, _, other = served
    deputy = other["deputy"]
    r = c.post("/api/v1/delisting-requests", json={"ip": "45.7.0.1", **DELISTING})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_listed" and "not listed" in r.json()["error"]["message"]
    assert c.get("/api/v1/lookup/45.7.0.1").json()["history"] == []

    manual(c, deputy, "list", "45.7.0.2", "open relay")
    rid = c.post("/api/v1/delisting-requests", json={"ip": "45.7.0.2", **DELISTING}).json()["id"]
    a = c.post(f"/api/v1/delisting-requests/{rid}/approve", json={"reason": "relay closed"}, headers=bearer(deputy))
    assert a.status_code == 200 and a.json()["status"] == "approved"
    hist = c.get("/api/v1/lookup/45.7.0.2").json()["history"]
    assert [(h["from"], h["to"]) for h in hist] == [("listed", "delisted"), ("unlisted", "listed")]

    # covered by a network listing: a request may be filed; the network goes before approval
    manual(c, deputy, "list", "45.7.1.0/24", "snowshoe range")
    rid = c.post("/api/v1/delisting-requests", json={"ip": "45.7.1.9", **DELISTING}).json()["id"]
    manual(c, deputy, "delist", "45.7.1.0/24", "range reassigned")
    a = c.post(f"/api/v1/delisting-requests/{rid}/approve", json={"reason": "ok"}, headers=bearer(deputy))
    assert a.status_code == 200 and a.json()["status"] == "approved"
    out = c.get("/api/v1/lookup/45.7.1.9").json()
    assert out["listed"] is False and out["history"] == []  # no bogus unlisted -> delisted entry


def test_network_listing_is_explained(served):
    c, _, other = served
    manual(c, other["deputy"], "list", "45.33.1.0/24", "snowshoe spam from the whole range")
    out = c.get("/api/v1/lookup/45.33.1.2").json()
    assert out["listed"] is True and out["state"] == "listed" and out["listing"] == "45.33.1.0/24"
    assert out["reason"] == "snowshoe spam from the whole range"
    cov = out["covered_by"]
    assert cov["key"] == "45.33.1.0/24" and cov["reason"] == "snowshoe spam from the whole range"
    assert [(h["from"], h["to"], h["by"]) for h in cov["history"]] == [("unlisted", "listed", "deputy")]
    why = " ".join(out["explanation"]["why"])
    assert "Covered by the listing of the network 45.33.1.0/24" in why and "snowshoe" in why
    assert "needs at least" not in why and out["explanation"]["listed"] is True
    x = c.get("/api/v1/explain/45.33.1.2", headers=bearer(other["deputy"])).json()
    assert x["listed"] is True and x["covered_by"]["key"] == "45.33.1.0/24" and "Covered by" in x["why"][0]
    assert c.post("/api/v1/delisting-requests", json={"ip": "45.33.1.2", **DELISTING}).status_code == 201


def test_lookup_agrees_with_itself_while_evidence_arrives(served):
    c, tokens, _ = served
    ip = "45.7.2.1"
    for i, token in enumerate(tokens[:2]):
        report(c, token, ip, n=100 + i)
        out = c.get(f"/api/v1/lookup/{ip}").json()
        assert_consistent(out)
    out = settled(c, ip, lambda o: o["listed"])
    assert out["explanation"]["qualifies"] is True and out["history"][0]["to"] == "listed"


def test_volume_in_proportion(served):
    c, tokens, other = served
    big, small = "45.7.3.1", "45.7.3.2"
    end = datetime.now(UTC).replace(microsecond=0)
    r = c.post("/api/v1/volume", headers=bearer(other["feed"]),
               json=[{"ip": big, "count": 10**7, "start": (end - timedelta(days=6)).isoformat(),
                      "end": end.isoformat()}])
    assert r.status_code == 202, r.text
    for k, token in enumerate(tokens):
        for j in range(3):
            report(c, token, big, n=200 + 10 * k + j)
        report(c, token, small, n=300 + k)
    out = settled(c, big, lambda o: o["evidence"]["user"] == 9)
    x = out["explanation"]
    assert out["listed"] is False and x["volume"] == 10**7 and x["reporters"] == 3
    assert x["threshold"] == 100.0 and x["score"] < x["threshold"] and "below the threshold" in " ".join(x["why"])
    out = settled(c, small, lambda o: o["listed"])
    assert out["explanation"]["volume"] == 0 and out["explanation"]["threshold"] == 2.0


def test_public_lookup_hides_per_report_detail(served):
    c, tokens, other = served
    ip = "45.7.4.1"
    for k, token in enumerate(tokens[:2]):
        report(c, token, ip, n=400 + k)
    trap = c.post("/api/v1/trap-hits", content=spam(ip, n=499), params={"trap": "hidden-trap@traps.example"},
                  headers={**bearer(other["feed"]), **MAIL})
    assert trap.status_code == 202 and trap.json()["source_ip"] == ip
    out = settled(c, ip, lambda o: o["listed"] and o["evidence"]["trap"] == 1)
    deputy = c.get(f"/api/v1/explain/{ip}", headers=bearer(other["deputy"]))
    assert deputy.status_code == 200
    x = deputy.json()
    stamps = [i["at"] for i in x["evidence"]]
    assert len(stamps) == 3 and {i.get("reporter") for i in x["evidence"] if i["kind"] == "report"} == {"R1", "R2"}
    assert x["trap_hits"][0]["trap_address"] == "hidden-trap@traps.example"
    assert any("trust" in i for i in x["evidence"])

    text = json.dumps(out)
    for stamp in stamps:
        assert stamp not in text
    assert "hidden-trap" not in text and not re.search(r'"R\d+"', text) and '"trust"' not in text
    assert not re.search(r"\d\d:\d\d:\d\d\.\d+", json.dumps(out["evidence"]) + json.dumps(out["explanation"]["evidence"]))
    assert out["evidence"]["last_seen"].endswith(":00:00Z")
    public = out["explanation"]
    assert public["score"] >= public["threshold"] and public["reports"] == 2 and public["traps"] == 1
    assert {(e["kind"], e["count"]) for e in public["evidence"]} == {("user", 2), ("trap", 1)}

    assert c.get(f"/api/v1/explain/{ip}").status_code == 401
    assert c.get(f"/api/v1/explain/{ip}", headers=bearer(tokens[0])).status_code == 403
