"""POST /api/v1/feedback: ISP feedback-loop mails (ARF) become fbl reports, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.policy import SMTP

import sqlalchemy as sa

from mailrep.store.tables import reports

MAIL = {"Content-Type": "message/rfc822"}


def post(api, who, raw):
    return api.client.post("/api/v1/feedback", content=raw, headers={**api.auth(who), **MAIL})


def test_corpus_arf_becomes_one_fbl_report_with_its_source(api, corpus):
    raw = (corpus / "arf" / "stalwart-mail-auth" / "004.eml").read_bytes()
    want = json.loads((corpus / "arf" / "stalwart-mail-auth" / "004.expected.json").read_text())["source_ip"]
    r = post(api, "feed", raw)
    assert r.status_code == 202, r.text
    [got] = r.json()["reports"]
    assert got["source_ip"] == want and got["duplicate"] is False
    again = post(api, "feed", raw).json()["reports"]
    assert again == [{**got, "duplicate": True}]
    with api.db.read() as conn:
        row = conn.execute(sa.select(reports.c.channel, reports.c.reporter_id).where(
            reports.c.id == got["id"])).one()
    assert tuple(row) == ("fbl", api.ids["feed"])


def test_a_digest_of_attached_reports_gives_one_report_each(api, corpus):
    samples = [corpus / "arf" / "sisimai" / f"bsd-arf-{n}.eml" for n in ("17", "18")]
    digest = EmailMessage()
    digest["From"], digest["To"], digest["Subject"] = "fbl@isp.example", "fbl@mailrep.test", "2 complaints"
    digest.set_content("two reports attached")
    import email

    for path in samples:
        digest.add_attachment(email.message_from_bytes(path.read_bytes()))
    r = post(api, "feed", digest.as_bytes(policy=SMTP))
    assert r.status_code == 202, r.text
    assert len(r.json()["reports"]) == 2


def test_not_a_feedback_report_is_400_and_reporters_may_not_post(api, corpus):
    spam = next((corpus / "messages" / "spam").iterdir()).read_bytes()
    r = post(api, "feed", spam)
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_feedback_report"
    arf = (corpus / "arf" / "stalwart-mail-auth" / "001.eml").read_bytes()
    assert post(api, "alice", arf).status_code == 403
    assert api.client.post("/api/v1/feedback", content=arf, headers=MAIL).status_code == 401


def test_reporter_sees_its_own_submission_address(api):
    import re

    r = api.client.get("/api/v1/reporter", headers=api.auth("alice"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "alice" and re.fullmatch(r"submit\.[0-9a-f]+@mailrep\.test", body["submit_address"])
    assert api.client.get("/api/v1/reporter", headers=api.auth("bob")).json()["submit_address"] != body["submit_address"]
    assert api.client.get("/api/v1/reporter", headers=api.auth("feed")).status_code == 403
