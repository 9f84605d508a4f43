"""Public lookup, delisting requests and the deputies' side, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools

import pytest

from tests.intake.mail import spam
from tests.web.test_reports import assert_error

MAIL = {"Content-Type": "message/rfc822"}
_addr = itertools.count(1)


def client(api):
    """Each test files requests from its own client address (requests are rate-limited per address)."""
    return api.from_address(f"10.9.{next(_addr)}.1")


def request_delisting(c, ip, **over):
    body = {"ip": ip, "contact_email": "postmaster@sender.example", "explanation": "fixed the open relay"}
    return c.post("/api/v1/delisting-requests", json={**body, **over})


def manual(api, who, action, key, reason="checked the evidence"):
    return api.client.post("/api/v1/manual-actions", json={"action": action, "key": key, "reason": reason},
                           headers=api.auth(who))


def test_lookup_of_an_unknown_address(api):
    r = api.client.get("/api/v1/lookup/45.4.0.1")
    assert r.status_code == 200
    body = r.json()
    assert body["ip"] == "45.4.0.1" and body["listed"] is False
    assert set(body["evidence"]) >= {"trap", "user", "mole", "simp", "last_seen"}


@pytest.mark.parametrize("bad", ["nope", "1.2.3", "300.0.0.1", "1.2.3.4.5", "::g"])
def test_lookup_bad_address_is_400(api, bad):
    assert_error(api.client.get(f"/api/v1/lookup/{bad}"), 400, "bad_ip")


def test_lookup_never_shows_reporters(api):
    for who in ("alice", "bob"):
        r = api.client.post("/api/v1/reports", content=spam("45.4.0.2", n=hash(who) % 1000),
                            headers={**api.auth(who), **MAIL})
        assert r.status_code == 202
    api.client.app.state.ctx.intake.processor.wait_idle(30)
    text = api.client.get("/api/v1/lookup/45.4.0.2").text
    assert "alice" not in text and "bob" not in text and api.tokens["alice"] not in text
    assert api.client.get("/api/v1/lookup/45.4.0.2").json()["evidence"]["user"] == 2


def test_delisting_request_flow_deny(api):
    assert manual(api, "deputy", "list", "45.4.1.1").status_code == 200
    c = client(api)
    r = request_delisting(c, "45.4.1.1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending" and body["ip"] == "45.4.1.1"
    assert r.headers["location"] == body["url"]
    public = c.get(body["url"]).json()
    assert public["status"] == "pending" and "contact_email" not in public
    pending = api.client.get("/api/v1/delisting-requests", headers=api.auth("deputy")).json()
    mine = [p for p in pending if p["id"] == body["id"]]
    assert mine and mine[0]["contact_email"] == "postmaster@sender.example"
    d = api.client.post(f"/api/v1/delisting-requests/{body['id']}/deny", json={"reason": "still spamming"},
                        headers=api.auth("deputy"))
    assert d.status_code == 200 and d.json()["status"] == "denied"
    assert c.get(body["url"]).json()["decision_reason"] == "still spamming"
    again = api.client.post(f"/api/v1/delisting-requests/{body['id']}/approve", json={"reason": "oops"},
                            headers=api.auth("deputy"))
    assert_error(again, 409, "conflict")
    denied = api.client.get("/api/v1/delisting-requests", params={"status": "denied"}, headers=api.auth("deputy"))
    assert body["id"] in {p["id"] for p in denied.json()}


def test_manual_listing_then_approved_delisting(api):
    assert manual(api, "deputy", "list", "45.4.2.1").status_code == 200
    assert api.client.get("/api/v1/lookup/45.4.2.1").json()["listed"] is True
    c = client(api)
    rid = request_delisting(c, "45.4.2.1").json()["id"]
    a = api.client.post(f"/api/v1/delisting-requests/{rid}/approve", json={"reason": "fixed"},
                        headers=api.auth("admin"))
    assert a.status_code == 200 and a.json()["status"] == "approved"
    after = api.client.get("/api/v1/lookup/45.4.2.1").json()
    assert after["listed"] is False
    assert len(after["history"]) >= 2


def test_manual_actions_need_staff_and_a_reason(api):
    assert_error(manual(api, "alice", "list", "45.4.3.1"), 403, "not_allowed")
    assert_error(manual(api, "feed", "exempt", "45.4.3.1"), 403, "not_allowed")
    r = api.client.post("/api/v1/manual-actions", json={"action": "list", "key": "45.4.3.1", "reason": "x"})
    assert_error(r, 401, "not_authenticated")
    assert_error(manual(api, "deputy", "list", "45.4.3.1", reason=""), 422, "invalid")
    assert_error(manual(api, "deputy", "ban", "45.4.3.1"), 422, "invalid")
    assert_error(manual(api, "deputy", "list", "not-an-ip"), 400)
    ok = manual(api, "deputy", "exempt", "45.4.3.0/24")
    assert ok.status_code == 200 and ok.json()["state"] == "exempt"


def test_delisting_request_errors(api):
    c = client(api)
    assert_error(request_delisting(c, "nope"), 400, "bad_ip")
    assert_error(request_delisting(c, "45.4.4.1", contact_email="not an address"), 400)
    assert_error(request_delisting(c, "45.4.4.1", explanation="   "), 400)
    assert_error(c.post("/api/v1/delisting-requests", json={"ip": "45.4.4.1"}), 422, "invalid")
    assert_error(c.post("/api/v1/delisting-requests", content=b"{", headers={"Content-Type": "application/json"}),
                 400, "bad_json")
    assert_error(c.get("/api/v1/delisting-requests/unknownid"), 404, "not_found")
    assert_error(c.get("/api/v1/delisting-requests/bad%20id!"), 422, "invalid")
    assert_error(api.client.get("/api/v1/delisting-requests"), 401, "not_authenticated")
    assert_error(api.client.get("/api/v1/delisting-requests", headers=api.auth("alice")), 403, "not_allowed")
    assert_error(api.client.get("/api/v1/delisting-requests", params={"status": "weird"},
                                headers=api.auth("deputy")), 422, "invalid")
    assert_error(api.client.post("/api/v1/delisting-requests/unknownid/deny", json={"reason": "r"},
                                 headers=api.auth("deputy")), 404, "not_found")


def test_delisting_requests_are_rate_limited_per_address(api, limits):
    assert manual(api, "deputy", "list", "45.4.5.0/24").status_code == 200
    c = client(api)
    for i in range(limits.delisting_per_hour):
        assert request_delisting(c, f"45.4.5.{i + 1}").status_code == 201
    r = request_delisting(c, "45.4.5.99")
    assert_error(r, 429, "over_quota")
    assert int(r.headers["retry-after"]) >= 1
    assert request_delisting(client(api), "45.4.5.99").status_code == 201  # another address may
