"""Issue 13, the HTTP door of the real `mailrep serve` over the wire: request-head limits (431
within 5 s, nothing buffered), forwarded headers believed only from `[web] trusted_proxies`,
public lookups rate-limited per client network, delisting requests that are invalid cost no
allowance, address parsing (NUL, zone ids) with 400, and hostile report bodies (must show 3):
each answered with a precise 4xx JSON, and the server keeps serving.

Clients connect from distinct loopback addresses (127.0.0.x) so that the delisting limits of
the tests do not meet each other; lookups are counted per /24, so only the lookup test
looks addresses up."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.intake.mail import spam
from tests.serve_proc import Serve, prepare_db

CONFIG = """
[web]
lookups_per_minute = 20
max_header_bytes = 16384
max_headers = 100

[intake]
trace_workers = 0
max_bytes = 1000000
delisting_per_hour = 10
"""
MAIL = {"Content-Type": "message/rfc822"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Serve]:
    data = tmp_path_factory.mktemp("serve-http")
    (data / "mailrep.toml").write_text(CONFIG)
    url = f"sqlite:///{data / 'mailrep.sqlite3'}"
    tokens, other = prepare_db(url, reporters=2)
    s = Serve(Path(data), url).start()
    s.tokens = {"reporter": tokens[0], "other": tokens[1], **other}  # type: ignore[attr-defined]
    try:
        yield s
    finally:
        s.stop()


def client(srv: Serve, source: str = "127.0.0.1", **kw) -> httpx.Client:
    """An HTTP client whose connections come from `source` (any 127.0.0.0/8 address)."""
    return httpx.Client(base_url=srv.base, timeout=10,
                        transport=httpx.HTTPTransport(local_address=source), **kw)


def auth(srv: Serve, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {srv.tokens[who]}"}  # type: ignore[attr-defined]


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body


def still_serving(srv: Serve) -> None:
    with client(srv, "127.0.0.250") as c:
        assert_error(c.get("/api/v1/delisting-requests/no-such-request"), 404, "not_found")


# --- defect 2: request heads -------------------------------------------------------------

def raw_exchange(port: int, head: bytes, chunks: Iterator[bytes], deadline: float = 5.0) -> tuple[bytes, float]:
    """Send `head`, then `chunks` until the server answers or closes; the reply and the time taken."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=deadline)
    reply = b""
    try:
        s.sendall(head)
        s.setblocking(False)
        for chunk in chunks:
            try:
                s.sendall(chunk)
            except BlockingIOError:
                pass  # the server stopped reading: it has answered or is about to
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                got = s.recv(65536)
                if not got:
                    break
                reply += got
                break
            except BlockingIOError:
                continue
            except ConnectionResetError:
                break
        s.setblocking(True)
        s.settimeout(max(0.1, deadline - (time.monotonic() - t0)))
        try:
            while got := s.recv(65536):
                reply += got
        except (TimeoutError, ConnectionResetError):
            pass
    finally:
        s.close()
    return reply, time.monotonic() - t0


def test_a_1mb_header_line_is_refused_431_within_5s(srv):
    head = b"GET /api/v1/delisting-requests/x HTTP/1.1\r\nHost: t\r\nX-Big: "
    reply, took = raw_exchange(srv.ports["http"], head, (b"a" * 16384 for _ in range(64)))
    assert took < 5.0
    # refused (431 with a JSON error) or closed; never a normal answer
    if reply:
        assert reply.startswith(b"HTTP/1.1 431 "), reply[:200]
        body = json.loads(reply.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] == "headers_too_large"
    still_serving(srv)


def test_too_many_header_fields_are_431(srv):
    head = b"GET /api/v1/delisting-requests/x HTTP/1.1\r\nHost: t\r\n"
    head += b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"
    reply, took = raw_exchange(srv.ports["http"], head, iter(()))
    assert took < 5.0 and reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b"more than 100 header fields" in reply
    still_serving(srv)


def test_a_head_over_the_limit_in_one_read_is_431(srv):
    head = b"GET /api/v1/delisting-requests/x HTTP/1.1\r\nHost: t\r\n"
    head += b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 400) for i in range(60)) + b"\r\n"  # ~25 KB, 62 fields
    reply, took = raw_exchange(srv.ports["http"], head, iter(()))
    assert took < 5.0 and reply.startswith(b"HTTP/1.1 431 "), reply[:200]
    assert b"over 16384 bytes" in reply


def test_heads_within_the_limits_are_served(srv):
    headers = {f"X-H{i}": "v" * 100 for i in range(80)}  # 80 fields, ~9 KB
    with client(srv, "127.0.0.251") as c:
        assert_error(c.get("/api/v1/delisting-requests/x", headers=headers), 404, "not_found")
        # a big body is not a big head: a 500 KB report goes through
        r = c.post("/api/v1/reports", content=spam("45.13.2.1", n=1, body_bytes=500_000),
                   headers={**auth(srv, "reporter"), **MAIL})
        assert r.status_code == 202, r.text


# --- defect 4: X-Forwarded-For from strangers ---------------------------------------------

def list_address(srv: Serve, ip: str) -> None:
    with client(srv, "127.0.0.200") as c:
        r = c.post("/api/v1/manual-actions", json={"action": "list", "key": ip, "reason": "test spam source"},
                   headers=auth(srv, "deputy"))
        assert r.status_code == 200, r.text


def delisting(ip: str, n: int) -> dict[str, str]:
    return {"ip": ip, "contact_email": f"admin{n}@example.net", "explanation": f"fixed the relay ({n})"}


def test_spoofed_x_forwarded_for_does_not_lift_the_delisting_limit(srv):
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: the client is
    127.0.0.1 here, and [web] trusted_proxies is empty."""
    list_address(srv, "45.13.4.1")
    codes = []
    with client(srv, "127.0.0.1") as c:
        for n in range(12):
            r = c.post("/api/v1/delisting-requests", json=delisting("45.13.4.1", n),
                       headers={"X-Forwarded-For": f"198.51.100.{n + 1}"})
            codes.append(r.status_code)
            if r.status_code == 429:
                assert_error(r, 429, "over_quota")
                assert int(r.headers["Retry-After"]) >= 1
    assert codes[0] == 201 and 429 in codes, codes
    with client(srv, "127.0.0.200") as c:
        seen = c.get("/api/v1/delisting-requests", params={"status": "all", "limit": 1000},
                     headers=auth(srv, "deputy")).json()
    clients = {x["client_addr"] for x in seen if x["ip"] == "45.13.4.1"}
    assert clients == {"127.0.0.1"}  # the peer, not what it claimed


def test_a_trusted_proxy_speaks_for_its_clients(tmp_path):
    data = tmp_path / "var"
    data.mkdir()
    (data / "mailrep.toml").write_text('[web]\ntrusted_proxies = ["127.0.0.64/26"]\n')
    url = f"sqlite:///{data / 'mailrep.sqlite3'}"
    _, other = prepare_db(url, reporters=0)
    s = Serve(data, url).start()
    s.tokens = other  # type: ignore[attr-defined]
    try:
        list_address(s, "45.13.4.2")
        for source, claimed, seen in (("127.0.0.70", "198.51.100.7", "198.51.100.7"),
                                      ("127.0.0.3", "198.51.100.8", "127.0.0.3")):
            with client(s, source) as c:
                r = c.post("/api/v1/delisting-requests", json=delisting("45.13.4.2", 1),
                           headers={"X-Forwarded-For": claimed})
                assert r.status_code == 201, r.text
            with client(s, "127.0.0.200") as c:
                rows = c.get("/api/v1/delisting-requests", headers=auth(s, "deputy")).json()
            assert rows[0]["client_addr"] == seen
    finally:
        s.stop()


# --- defect 14: invalid requests cost nothing; one parser ---------------------------------

def test_invalid_delisting_requests_do_not_use_up_the_allowance(srv):
    list_address(srv, "45.13.5.1")
    with client(srv, "127.0.0.5") as c:
        for n in range(12):
            bad = {**delisting("45.13.5.1", n), **({"contact_email": "not an address"} if n % 2
                                                   else {"explanation": "   "})}
            assert_error(c.post("/api/v1/delisting-requests", json=bad), 400, "bad_input")
        for ip in ("fe80::1%eth0", "45.13.5.1\0", "::ffff:45.13.5.1%x"):
            assert_error(c.post("/api/v1/delisting-requests", json=delisting(ip, 0)), 400, "bad_ip")
        r = c.post("/api/v1/delisting-requests", json=delisting("::ffff:45.13.5.1", 99))
        assert r.status_code == 201, r.text
        assert r.json()["ip"] == "45.13.5.1"  # v4-mapped is the IPv4 address


@pytest.mark.parametrize("key", ["45.13.6.1\0", "45.13.6.0/24\0", "\0", "fe80::1%eth0", "2a01:4f8::5%x",
                                 "2a01:4f8::/32%x", "45.13.6.1/24"])
def test_manual_action_keys_are_read_by_the_one_parser(srv, key):
    with client(srv, "127.0.0.6") as c:
        r = c.post("/api/v1/manual-actions", json={"action": "list", "key": key, "reason": "r"},
                   headers=auth(srv, "deputy"))
        body = assert_error(r, 400)
        assert body["error"]["code"] in ("bad_ip", "bad_network")


def test_volume_refuses_zone_ids_and_oversized_json_is_413(srv):
    item = {"ip": "2a01:4f8::5%x", "count": 1, "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}
    with client(srv, "127.0.0.7") as c:
        assert_error(c.post("/api/v1/volume", json=[item], headers=auth(srv, "feed")), 400, "bad_ip")
        big = [{**item, "ip": "45.13.7.1"}] * 12_000  # about 1.1 MB of JSON, over max_bytes
        assert_error(c.post("/api/v1/volume", json=big, headers=auth(srv, "feed")), 413, "too_big")
        # chunked, with no Content-Length: cut while reading, the same answer
        payload = json.dumps(big).encode()
        chunks = (payload[i:i + 65536] for i in range(0, len(payload), 65536))
        r = c.post("/api/v1/volume", content=chunks,
                   headers={**auth(srv, "feed"), "Content-Type": "application/json"})
        assert_error(r, 413, "too_big")
    still_serving(srv)


# --- defect 16: lookups per client network ------------------------------------------------

def test_lookups_are_rate_limited_per_client_network(srv):
    with client(srv, "127.0.0.8") as c:
        for ip in ("2a01:4f8::5%25x", "fe80::1%25eth0", "45.13.8.1%00"):
            assert_error(c.get(f"/api/v1/lookup/{ip}"), 400, "bad_ip")
        codes = [c.get(f"/api/v1/lookup/45.13.8.{n}").status_code for n in range(1, 30)]
        assert codes[:15] == [200] * 15 and codes[-1] == 429, codes
        r = c.get("/api/v1/lookup/45.13.8.1")
        assert_error(r, 429, "over_quota")
        assert 1 <= int(r.headers["Retry-After"]) <= 60
    with client(srv, "127.0.0.9") as c:  # another host of the same /24: the same allowance
        assert_error(c.get("/api/v1/lookup/45.13.8.1"), 429, "over_quota")
    still_serving(srv)


# --- defect 18: the reporter's own reports; the public JSON explained ------------------------

def test_reporters_page_through_their_own_reports(srv):
    with client(srv, "127.0.0.11") as c:
        mine = [c.post("/api/v1/reports", content=spam(f"45.13.18.{n}", n=1800 + n),
                       headers={**auth(srv, "other"), **MAIL}).json()["id"] for n in range(1, 6)]
        seen, url, pages = [], "/api/v1/reports?limit=2", 0
        while url:
            page = c.get(url.replace("http://testserver", srv.base), headers=auth(srv, "other"))
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["reports"]) <= 2
            seen += [r["id"] for r in body["reports"]]
            url, pages = body["next"], pages + 1
        assert seen == sorted(mine, reverse=True) and pages == 3
        first = c.get("/api/v1/reports", params={"limit": 1}, headers=auth(srv, "other")).json()["reports"][0]
        assert first["source_ip"] == "45.13.18.5" and first["counted"] is True
        assert first["state"] in ("accepted", "processed") and first["url"].endswith(f"/reports/{mine[-1]}")
        assert c.get("/api/v1/reports", params={"state": "parked"}, headers=auth(srv, "other")).json() == \
            {"reports": [], "next": None}
        assert c.get("/api/v1/reports", params={"counted": "false"}, headers=auth(srv, "other")).json()["reports"] == []
        theirs = c.get("/api/v1/reports", params={"limit": 500}, headers=auth(srv, "reporter")).json()["reports"]
        assert not set(mine) & {r["id"] for r in theirs}  # only one's own
        assert_error(c.get("/api/v1/reports"), 401, "not_authenticated")
        assert_error(c.get("/api/v1/reports", headers=auth(srv, "feed")), 403, "not_allowed")
        assert_error(c.get("/api/v1/reports", params={"state": "gone"}, headers=auth(srv, "other")), 422, "invalid")


def test_public_json_fields_are_explained_in_the_schema(srv):
    with client(srv, "127.0.0.12") as c:
        schema = c.get("/api/v1/openapi.json").json()
    models = schema["components"]["schemas"]
    for name in ("LookupView", "EvidenceCounts", "HistoryEntry", "Explanation", "EvidenceItem", "ListingView",
                 "ReportPage", "ReportSummary", "ReportView", "ReportReceipt"):
        undescribed = [p for p, s in models[name]["properties"].items() if p != "id" and not s.get("description")]
        assert not undescribed, (name, undescribed)
    assert "anonymously" in models["EvidenceCounts"]["properties"]["mole"]["description"]
    assert "unregistered" in models["EvidenceCounts"]["properties"]["simp"]["description"]
    assert "R1" in models["EvidenceItem"]["properties"]["reporter"]["description"]
    lookup = schema["paths"]["/api/v1/lookup/{ip}"]["get"]
    (ip,) = lookup["parameters"]
    assert ip["schema"]["pattern"] and "::ffff:a.b.c.d" in ip["description"] and "zone ids" in ip["description"].lower()
    assert lookup["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/LookupView")
    for model, field in (("ManualAction", "key"), ("DelistingRequestIn", "ip"), ("Volume", "ip")):
        prop = models[model]["properties"][field]
        assert prop["pattern"] and "IPv6" in prop["description"], (model, prop)


# --- must show 3: hostile report bodies ---------------------------------------------------

def _deep_mime(levels: int) -> bytes:
    inner = b"Content-Type: text/plain\n\nspam http://deep.example.com/\n"
    for i in range(levels):
        b = f"b{i}".encode()
        inner = (b"Content-Type: multipart/mixed; boundary=\"" + b + b"\"\n\n--" + b + b"\n" + inner
                 + b"\n--" + b + b"--\n")
    return spam("45.13.9.3", n=3).split(b"\n\n", 1)[0] + b"\nMIME-Version: 1.0\n" + inner


ACCEPTED = (202, None)  # mail, however odd: stored and answered with a receipt
HOSTILE: dict[str, tuple[bytes, tuple[int, str | None]]] = {
    "empty": (b"", (422, "not_mail")),
    "binary": (bytes(range(256)) * 16, (422, "not_mail")),
    "nul bytes": (spam("45.13.9.1", n=1).replace(b"Subject:", b"Sub\0ject:"), ACCEPTED),
    "truncated headers": (spam("45.13.9.2", n=2)[:60], ACCEPTED),
    "deep mime": (_deep_mime(100), ACCEPTED),
    "10000 received": (b"".join(b"Received: from h%d.example [45.13.9.%d] by mx; Mon, 1 Jan 2024 00:00:00 +0000\n"
                                % (i, i % 250 + 1) for i in range(10_000)) + spam("45.13.9.4", n=4), ACCEPTED),
    "bare cr": (spam("45.13.9.5", n=5).replace(b"\n", b"\r"), ACCEPTED),
    "bare lf in crlf": (spam("45.13.9.6", n=6).replace(b"\n", b"\r\n").replace(b"Subject", b"\nSubject"),
                        ACCEPTED),
    "oversized": (b"Subject: x\n\n" + b"y" * 1_100_000, (413, "too_big")),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_reports_get_precise_answers_and_the_server_keeps_serving(srv, name):
    raw, (status, code) = HOSTILE[name]
    with client(srv, "127.0.0.10") as c:
        r = c.post("/api/v1/reports", content=raw, headers={**auth(srv, "reporter"), **MAIL})
        if code is None:
            assert r.status_code == status, (r.status_code, r.text[:300])
            receipt = r.json()
            view = c.get(f"/api/v1/reports/{receipt['id']}", headers=auth(srv, "reporter"))
            assert view.status_code == 200 and view.json()["id"] == receipt["id"]
        else:
            assert assert_error(r, status, code)["error"]["message"]
    still_serving(srv)


def test_a_body_cut_short_leaves_the_server_serving(srv):
    head = (b"POST /api/v1/reports HTTP/1.1\r\nHost: t\r\nContent-Type: message/rfc822\r\n"
            b"Authorization: Bearer " + srv.tokens["reporter"].encode() + b"\r\nContent-Length: 5000\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", srv.ports["http"]), timeout=5)
    s.sendall(head + spam("45.13.9.9", n=9)[:200])
    s.close()
    still_serving(srv)
