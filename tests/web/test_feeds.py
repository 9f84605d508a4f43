"""Trap hits and volume telemetry over HTTP (feed tokens), on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from mailrep.store.tables import trap_hits, volume
from tests.intake.mail import relayed_spam, spam
from tests.web.conftest import OPERATOR_NET
from tests.web.test_reports import assert_error

MAIL = {"Content-Type": "message/rfc822"}


def trap(api, who, raw, **params):
    headers = {**api.auth(who), **MAIL} if who else MAIL
    return api.client.post("/api/v1/trap-hits", content=raw, headers=headers, params=params)


def test_trap_hit_is_traced_with_the_operators_mailhosts(api):
    raw = relayed_spam("45.2.3.4", OPERATOR_NET.replace("0/24", "34"), n=100)
    r = trap(api, "feed", raw, trap="trap1@traps.example")
    assert r.status_code == 202, r.text
    assert r.json()["source_ip"] == "45.2.3.4"  # the operator's relay is trusted, not the source
    again = trap(api, "feed", raw)
    assert again.json()["id"] == r.json()["id"] and again.json()["duplicate"] is True
    with api.db.read() as conn:
        row = conn.execute(sa.select(trap_hits).where(trap_hits.c.id == r.json()["id"])).mappings().one()
    assert row["trap_address"] == "trap1@traps.example" and row["source_ip"] == "45.2.3.4"
    assert row["feed_account_id"] == api.ids["feed"]


def test_reporter_mailhosts_decide_the_source(api):
    api.account("dave", "reporter", mailhosts=[OPERATOR_NET])
    raw = relayed_spam("45.2.3.5", OPERATOR_NET.replace("0/24", "35"), n=101)
    mine = api.client.post("/api/v1/reports", content=raw, headers={**api.auth("dave"), **MAIL}).json()
    inferred = api.client.post("/api/v1/reports", content=raw, headers={**api.auth("alice"), **MAIL}).json()
    assert mine["source_ip"] == "45.2.3.5"
    assert inferred["source_ip"] == OPERATOR_NET.replace("0/24", "35")


def test_trap_hit_errors(api):
    assert_error(trap(api, None, spam("45.2.3.6")), 401, "not_authenticated")
    assert_error(trap(api, "alice", spam("45.2.3.6")), 403, "not_allowed")
    assert_error(trap(api, "feed", b"no headers here"), 422, "not_mail")
    assert_error(trap(api, "feed", b"x" * 300_000), 413, "too_big")


def _volume_rows(api, ip):
    with api.db.read() as conn:
        return conn.execute(sa.select(volume).where(volume.c.ip == ip)).mappings().all()


def test_volume_batch_is_stored(api):
    batch = [
        {"ip": "45.3.0.1", "count": 1200, "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"},
        {"ip": "2001:DB8::1", "count": 0, "start": "2026-01-01T00:00:00+02:00", "end": "2026-01-01T00:00:00+02:00"},
    ]
    r = api.client.post("/api/v1/volume", json=batch, headers=api.auth("feed"))
    assert r.status_code == 202, r.text
    assert r.json() == {"stored": 2}
    rows = _volume_rows(api, "45.3.0.1")
    assert [(x["count"], x["feed_account_id"]) for x in rows] == [(1200, api.ids["feed"])]
    v6 = _volume_rows(api, "2001:db8::1")
    assert len(v6) == 1 and v6[0]["period_start"].hour == 22  # stored in UTC
    assert api.client.post("/api/v1/volume", json=[], headers=api.auth("feed")).json() == {"stored": 0}


GOOD = {"ip": "45.3.0.2", "count": 5, "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}


def test_volume_bad_items_are_422_and_nothing_is_stored(api):
    bad_items = [
        {**GOOD, "count": -1},
        {**GOOD, "count": "many"}, {**GOOD, "count": 10**13}, {**GOOD, "end": "2025-12-31T00:00:00Z"},
        {**GOOD, "start": "yesterday"}, {**GOOD, "end": "2026-03-01T00:00:00Z"},
        {k: v for k, v in GOOD.items() if k != "count"}, None, "x", [],
    ]
    for item in bad_items:
        r = api.client.post("/api/v1/volume", json=[GOOD, item], headers=api.auth("feed"))
        assert_error(r, 422, "invalid")
    for body in ({"ip": "1.2.3.4"}, "text", 5):
        assert_error(api.client.post("/api/v1/volume", json=body, headers=api.auth("feed")), 422, "invalid")
    for ip in ("not-an-ip", "300.1.1.1", "fe80::1%eth0", "2a01:4f8::5%x", "45.3.0.2\0", ""):
        r = api.client.post("/api/v1/volume", json=[GOOD, {**GOOD, "ip": ip}], headers=api.auth("feed"))
        assert_error(r, 400, "bad_ip")  # addresses are read by mailrep.net, as at every door
    assert _volume_rows(api, "45.3.0.2") == []


def test_volume_bad_json_is_400(api):
    r = api.client.post("/api/v1/volume", content=b"[{", headers={**api.auth("feed"), "Content-Type": "application/json"})
    assert_error(r, 400, "bad_json")


def test_volume_batch_limit_and_roles(api, limits):
    too_many = [GOOD] * (limits.volume_batch_max + 1)
    assert_error(api.client.post("/api/v1/volume", json=too_many, headers=api.auth("feed")), 400, "bad_input")
    assert_error(api.client.post("/api/v1/volume", json=[GOOD], headers=api.auth("alice")), 403, "not_allowed")
    assert_error(api.client.post("/api/v1/volume", json=[GOOD]), 401, "not_authenticated")
