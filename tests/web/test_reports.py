"""POST/GET /api/v1/reports on SQLite and PostgreSQL: happy paths and every error code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.requests import Request

from mailrep.store import accounts
from tests.intake.mail import spam

MAIL = {"Content-Type": "message/rfc822"}


def post(api, who, raw, ctype="message/rfc822"):
    headers = {**api.auth(who), "Content-Type": ctype} if who else {"Content-Type": ctype}
    return api.client.post("/api/v1/reports", content=raw, headers=headers)


def assert_error(resp, status, code=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code


def test_report_is_stored_traced_and_visible_to_its_reporter(api):
    raw = spam("45.33.12.7", n=1, when=api.clock.now)
    r = post(api, "alice", raw)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["source_ip"] == "45.33.12.7"
    assert body["duplicate"] is False
    assert body["url"].endswith(f"/api/v1/reports/{body['id']}")
    assert r.headers["location"] == body["url"]
    app = api.client.app
    scope = {"type": "http", "app": app, "router": app.router, "scheme": "http", "server": ("testserver", 80),
             "path": "/", "root_path": "", "headers": [(b"host", b"testserver")], "query_string": b""}
    assert body["url"] == str(Request(scope).url_for("get_report", report_id=body["id"]))
    view = api.client.get(body["url"], headers=api.auth("alice"))
    assert view.status_code == 200
    v = view.json()
    assert v["id"] == body["id"] and v["source_ip"] == "45.33.12.7"
    assert v["counted"] is True
    assert v["state"] in ("accepted", "processed")
    assert v["size"] == len(raw) and v["truncated"] is False
    assert v["trace"]["source"]["ip"] == "45.33.12.7"
    assert v["channel"] == "http"


def test_report_url_follows_each_requests_host(api):
    """The URL prefix is cached per scheme, server, root path and Host: a second host (or
    the first again) gets its own URL, as `url_for` would build it for that request."""
    app = api.client.app
    for n, host in enumerate(["mail.example", "testserver", "mail.example:8443", "mail.example"]):
        r = api.client.post("/api/v1/reports", content=spam(f"45.33.13.{n + 1}", n=10 + n),
                            headers={**api.auth("alice"), **MAIL, "Host": host})
        assert r.status_code == 202, r.text
        body = r.json()
        scope = {"type": "http", "app": app, "router": app.router, "scheme": "http",
                 "server": ("testserver", 80), "path": "/", "root_path": "",
                 "headers": [(b"host", host.encode())], "query_string": b""}
        assert body["url"] == str(Request(scope).url_for("get_report", report_id=body["id"]))
        assert body["url"].startswith(f"http://{host}/api/v1/reports/")


@pytest.mark.parametrize("ctype", ["message/rfc822", "text/plain", "application/octet-stream",
                                   "message/rfc822; charset=utf-8"])
def test_accepted_content_types(api, ctype):
    assert post(api, "alice", spam("45.33.12.8", n=2), ctype).status_code == 202


def test_duplicate_from_same_reporter_answers_first_id_other_reporter_gets_its_own(api):
    raw = spam("45.33.12.9", n=3)
    first = post(api, "alice", raw).json()
    again = post(api, "alice", raw).json()
    assert again["id"] == first["id"] and again["duplicate"] is True
    other = post(api, "bob", raw).json()
    assert other["id"] != first["id"] and other["duplicate"] is False


def test_reports_of_others_are_not_found(api):
    rid = post(api, "alice", spam("45.33.12.10", n=4)).json()["id"]
    assert_error(api.client.get(f"/api/v1/reports/{rid}", headers=api.auth("bob")), 404, "not_found")
    assert_error(api.client.get("/api/v1/reports/999999", headers=api.auth("alice")), 404, "not_found")


def test_old_mail_is_stored_but_not_counted(api):
    old = api.clock.now - timedelta(days=3)
    r = post(api, "alice", spam("45.33.12.11", n=5, when=old))
    assert r.status_code == 202
    v = api.client.get(r.json()["url"], headers=api.auth("alice")).json()
    assert v["counted"] is False
    assert "too_old" in {f["code"] for f in v["flags"]}
    fresh = post(api, "alice", spam("45.33.12.11", n=6, when=api.clock.now - timedelta(hours=47)))
    assert api.client.get(fresh.json()["url"], headers=api.auth("alice")).json()["counted"] is True


def test_big_mail_is_cut_and_flagged(api, limits):
    raw = spam("45.33.12.12", n=7, body_bytes=limits.keep_bytes * 3)
    v = api.client.get(post(api, "alice", raw).json()["url"], headers=api.auth("alice")).json()
    assert v["truncated"] is True and v["size"] == len(raw)
    assert "truncated" in {f["code"] for f in v["flags"]}
    assert v["source_ip"] == "45.33.12.12"


def test_too_big_is_413(api, limits):
    raw = spam("45.33.12.13", n=8, body_bytes=limits.max_bytes + 10)
    assert_error(post(api, "alice", raw), 413, "too_big")


def test_too_big_streamed_without_length_is_413(api, limits):
    def chunks():
        for _ in range(limits.max_bytes // 10_000 + 5):
            yield b"x" * 10_000

    r = api.client.post("/api/v1/reports", content=chunks(), headers={**api.auth("alice"), **MAIL})
    assert_error(r, 413, "too_big")


@pytest.mark.parametrize("raw", [b"", b"   \n", b"just some text without headers", b"\x00\x01\x02\xff" * 50])
def test_not_mail_is_422(api, raw):
    assert_error(post(api, "alice", raw), 422, "not_mail")


def test_wrong_content_type_is_415(api):
    assert_error(post(api, "alice", spam("45.33.12.14"), "application/json"), 415, "unsupported_media_type")


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer mr_nope"}, {"Authorization": "Basic YTpi"},
    {"Authorization": "Bearer " + "x" * 500},
])
def test_missing_or_unknown_token_is_401(api, headers):
    r = api.client.post("/api/v1/reports", content=spam("45.33.12.15"), headers={**headers, **MAIL})
    assert_error(r, 401)
    assert r.json()["error"]["code"] in ("not_authenticated", "bad_input")


def test_revoked_token_and_disabled_account_are_401(api):
    api.account("revoked", "reporter")
    api.account("disabled", "reporter")
    with api.db.transaction() as conn:
        accounts.revoke_token(conn, api.tokens["revoked"], api.clock.now)
        accounts.set_account_status(conn, api.ids["disabled"], "disabled")
    api.client.app.state.ctx.auth._cache.clear()
    assert_error(post(api, "revoked", spam("45.33.12.16")), 401, "not_authenticated")
    assert_error(post(api, "disabled", spam("45.33.12.16")), 401, "not_authenticated")


@pytest.mark.parametrize("who", ["feed", "deputy", "admin"])
def test_wrong_role_is_403(api, who):
    assert_error(post(api, who, spam("45.33.12.17", n=9)), 403, "not_allowed")


def test_suspended_reporter_is_403(api):
    api.account("suspended", "reporter")
    with api.db.transaction() as conn:
        accounts.update_reporter(conn, api.ids["suspended"], status="suspended")
    api.client.app.state.ctx.auth._cache.clear()
    assert_error(post(api, "suspended", spam("45.33.12.18")), 403, "not_allowed")


def test_quota_per_24h_is_429_and_duplicates_still_answer(api):
    first = spam("45.33.12.19", n=10)  # built once: spam() stamps the current second
    a = post(api, "carol", first)
    b = post(api, "carol", spam("45.33.12.19", n=11))
    assert a.status_code == b.status_code == 202
    r = post(api, "carol", spam("45.33.12.19", n=12))
    assert_error(r, 429, "over_quota")
    assert int(r.headers["retry-after"]) > 0
    assert post(api, "carol", first).json()["id"] == a.json()["id"]
    assert post(api, "alice", spam("45.33.12.19", n=12)).status_code == 202  # quota is per reporter


def test_get_report_bad_ids_are_422_in_the_error_shape(api):
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        assert_error(api.client.get(f"/api/v1/reports/{bad}", headers=api.auth("alice")), 422, "invalid")


def test_unknown_route_and_method(api):
    assert_error(api.client.get("/api/v1/nope"), 404, "not_found")
    assert_error(api.client.delete("/api/v1/reports", headers=api.auth("alice")), 405)


def test_openapi_and_docs_are_published(api):
    spec = api.client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/reports", "/api/v1/reports/{report_id}", "/api/v1/trap-hits", "/api/v1/volume"):
        assert path in spec["paths"]
    assert "message/rfc822" in spec["paths"]["/api/v1/reports"]["post"]["requestBody"]["content"]
    assert api.client.get("/docs").status_code == 200
    # POST /reports authorizes in its body (no dependency) but declares the same requirement
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer",
                                     "description": schemes["HTTPBearer"]["description"]}
    for path, method in (("/api/v1/reports", "post"), ("/api/v1/reports/{report_id}", "get"),
                         ("/api/v1/trap-hits", "post")):
        assert spec["paths"][path][method]["security"] == [{"HTTPBearer": []}], (path, method)


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic abc", "bearer", "Token x", ""])
def test_report_without_a_bearer_token_is_401(api, header):
    r = api.client.post("/api/v1/reports", content=spam("45.33.14.1", n=1),
                        headers={**MAIL, "Authorization": header})
    assert_error(r, 401, "not_authenticated")
    assert r.headers["www-authenticate"] == "Bearer"


def test_report_with_a_lowercase_scheme_and_padding_is_accepted(api):
    token = api.auth("alice")["Authorization"].split(" ", 1)[1]
    r = api.client.post("/api/v1/reports", content=spam("45.33.14.2", n=2),
                        headers={**MAIL, "Authorization": f"bearer  {token} "})
    assert r.status_code == 202, r.text
