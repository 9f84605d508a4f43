"""SMTP intake over real SMTP (smtplib) against a real store: every reply code, reports stored."""

from __future__ import annotations

import smtplib
import ssl
import subprocess

import pytest
import sqlalchemy as sa

from mailrep.intake.addresses import Door, SmtpConfig, classify
from mailrep.intake.smtp.codes import Reply, status_for
from mailrep.intake.smtp.handler import received_header
from mailrep.store import accounts
from mailrep.store.tables import accounts as accounts_t
from mailrep.store.tables import reports, trap_hits
from tests.intake.smtp_harness import LiveSmtp, Sink, add_reporter, spam, submission
from tests.peers import require

DOMAIN = "mailrep.test"


def rows(db, table):
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


def smtp(live) -> smtplib.SMTP:
    return smtplib.SMTP(live.host, live.port, timeout=10)


def test_multi_attachment_submission_becomes_one_report_each(db, tmp_path):
    rid, code = add_reporter(db, "alice")
    with LiveSmtp(db, tmp_path) as live, smtp(live) as s:
        to = f"submit.{code}@{DOMAIN}"
        mail = submission(to, [spam("192.0.2.1", 1), spam("192.0.2.2", 2), spam("192.0.2.3", 3)])
        s.ehlo("reporter.example")
        s.mail("reporter@reporter.example")
        assert s.rcpt(to)[0] == 250
        code_, text = s.data(mail)
        assert code_ == 250, text
        assert text.startswith(b"2.0.0 3 report(s) stored (3 new)")
        # the same mail again: nothing stored twice, the same ids answered
        s.rset()
        s.mail("reporter@reporter.example")
        s.rcpt(to)
        code2, text2 = s.data(mail)
    got = rows(db, reports)
    assert len(got) == 3
    assert {r["reporter_id"] for r in got} == {rid} and {r["channel"] for r in got} == {"smtp"}
    assert code2 == 250 and b"(0 new)" in text2
    assert [str(r["id"]).encode() for r in got] == text2.split(b": ", 1)[1].split()


def test_unknown_and_suspended_addresses_get_550_511(db, tmp_path):
    rid, code = add_reporter(db, "bob")
    with db.transaction() as conn:
        accounts.update_reporter(conn, rid, status="suspended")
    with LiveSmtp(db, tmp_path) as live, smtp(live) as s:
        s.ehlo("x")
        s.mail("r@reporter.example")
        for to in (f"submit.{code}@{DOMAIN}", f"submit.nosuchcode@{DOMAIN}", f"postmaster@{DOMAIN}",
                   "someone@elsewhere.example", f"submit.@{DOMAIN}"):
            c, text = s.rcpt(to)
            assert (c, text[:5]) == (550, b"5.1.1"), to
    assert rows(db, reports) == []


def test_too_big_gets_552_534_by_size_and_by_data(db, tmp_path):
    _, code = add_reporter(db, "carol")
    to = f"submit.{code}@{DOMAIN}"
    big = submission(to, [spam("192.0.2.9", 1) + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n" * 80])
    with LiveSmtp(db, tmp_path, {"max_message_bytes": 4000}) as live:
        with smtp(live) as s:  # declared with SIZE= (smtplib does it when the server offers SIZE)
            with pytest.raises(smtplib.SMTPSenderRefused) as e:
                s.sendmail("r@reporter.example", [to], big)
            assert (e.value.smtp_code, e.value.smtp_error[:5]) == (552, b"5.3.4")
        with smtp(live) as s:  # undeclared: refused after DATA
            s.ehlo("x")
            s.mail("r@reporter.example")
            s.rcpt(to)
            c, text = s.data(big)
            assert (c, text[:5]) == (552, b"5.3.4")
    assert rows(db, reports) == []


def test_over_quota_gets_452_453(db, tmp_path):
    _, code = add_reporter(db, "dave", quota=2)
    to = f"submit.{code}@{DOMAIN}"
    with LiveSmtp(db, tmp_path) as live, smtp(live) as s:
        s.sendmail("r@reporter.example", [to], submission(to, [spam("192.0.2.1", 1), spam("192.0.2.2", 2)]))
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:  # refused at RCPT: quota spent
            s.sendmail("r@reporter.example", [to], submission(to, [spam("192.0.2.3", 3)]))
        c, text = e.value.recipients[to]
        assert (c, text[:5]) == (452, b"4.5.3")
    assert len(rows(db, reports)) == 2


def test_over_quota_inside_one_mail_gets_452_453_after_data(db, tmp_path):
    _, code = add_reporter(db, "erin", quota=2)
    to = f"submit.{code}@{DOMAIN}"
    with LiveSmtp(db, tmp_path) as live, smtp(live) as s:
        s.ehlo("x")
        s.mail("r@reporter.example")
        assert s.rcpt(to)[0] == 250
        c, text = s.data(submission(to, [spam("192.0.2.1", 1), spam("192.0.2.2", 2), spam("192.0.2.3", 3)]))
        assert (c, text[:5]) == (452, b"4.5.3")
    assert len(rows(db, reports)) == 2  # the quota holds; a retry stores nothing twice


def test_no_spam_attached_gets_554_560_with_help(db, tmp_path):
    _, code = add_reporter(db, "frank")
    to = f"submit.{code}@{DOMAIN}"
    with LiveSmtp(db, tmp_path) as live, smtp(live) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("r@reporter.example", [to], b"From: r@x\r\nTo: " + to.encode() + b"\r\nSubject: hi\r\n\r\nI got spam!\r\n")
        assert e.value.smtp_code == 554
        assert e.value.smtp_error.startswith(b"5.6.0") and b"attachment" in e.value.smtp_error.lower()
    assert rows(db, reports) == []


def test_too_many_recipients_gets_452_453(db, tmp_path):
    codes = [add_reporter(db, f"r{i}")[1] for i in range(3)]
    with LiveSmtp(db, tmp_path, {"max_recipients": 2}) as live, smtp(live) as s:
        s.ehlo("x")
        s.mail("r@reporter.example")
        answers = [s.rcpt(f"submit.{c}@{DOMAIN}") for c in codes]
    assert [a[0] for a in answers] == [250, 250, 452]
    assert answers[2][1].startswith(b"4.5.3")


def test_connection_rate_gets_421_470(db, tmp_path):
    with LiveSmtp(db, tmp_path, {"connections": 3, "connections_per": 3600}) as live:
        for _ in range(3):
            with smtp(live) as s:
                assert s.noop()[0] == 250
        with pytest.raises(smtplib.SMTPConnectError) as e:
            smtp(live)
        assert (e.value.smtp_code, e.value.smtp_error[:5]) == (421, b"4.7.0")


def test_inline_forward_is_stored_flagged(db, tmp_path):
    _, code = add_reporter(db, "gina")
    to = f"submit.{code}@{DOMAIN}"
    body = b"From: r@reporter.example\r\nTo: " + to.encode() + b"\r\nSubject: Fwd\r\n\r\nfyi\r\n" \
        b"---------- Forwarded message ---------\r\n" + spam("192.0.2.77", 7)
    with LiveSmtp(db, tmp_path) as live, smtp(live) as s:
        assert s.sendmail("r@reporter.example", [to], body) == {}
    [r] = rows(db, reports)
    assert "inline_forward" in [f["code"] for f in r["flags"]]


def test_reply_mail_arrives_at_the_sink(db, tmp_path):
    _, code = add_reporter(db, "hank")
    to = f"submit.{code}@{DOMAIN}"
    with Sink() as sink:
        cfg = {"reply_smarthost": f"127.0.0.1:{sink.port}", "reply_from": "robot@mailrep.test"}
        with LiveSmtp(db, tmp_path, cfg) as live, smtp(live) as s:
            s.sendmail("hank@reporter.example", [to], submission(to, [spam("192.0.2.5", 5), spam("192.0.2.6", 6)]))
            assert sink.arrived.wait(10)
    [(mail_from, rcpts, content)] = sink.messages
    assert mail_from == "robot@mailrep.test" and rcpts == ["hank@reporter.example"]
    ids = [r["id"] for r in rows(db, reports)]
    text = content.decode()
    for rid in ids:
        assert f"http://mailrep.test/api/v1/reports/{rid}" in text
    assert "traced source:" in text and "2 reports" in text


def test_trap_hit_is_stored_with_our_received_and_never_in_reports(db, tmp_path):
    cfg = {"traps": ["spamtrap@trap.example"], "trap_domains": ["honeypot.example"]}
    with LiveSmtp(db, tmp_path, cfg) as live, smtp(live) as s:
        s.sendmail("x@bad.example", ["spamtrap@trap.example"], spam("203.0.113.9", 1))
        s.sendmail("x@bad.example", ["anyone@honeypot.example"], spam("203.0.113.10", 2))
    hits = rows(db, trap_hits)
    assert [h["trap_address"] for h in hits] == ["spamtrap@trap.example", "anyone@honeypot.example"]
    assert rows(db, reports) == []
    with db.read() as conn:
        owner = conn.execute(sa.select(accounts_t.c.name, accounts_t.c.role).where(
            accounts_t.c.id == hits[0]["feed_account_id"])).one()
    assert tuple(owner) == ("traps", "feed")


def test_starttls_with_a_self_signed_certificate(db, tmp_path):
    openssl = require("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "2", "-subj", "/CN=mailrep.test"],
                   check=True, capture_output=True)
    _, code = add_reporter(db, "ivy")
    to = f"submit.{code}@{DOMAIN}"
    cfg = {"tls_cert": str(cert), "tls_key": str(key), "require_tls": True}
    with LiveSmtp(db, tmp_path, cfg) as live:
        with smtp(live) as s:
            s.ehlo("x")
            assert s.has_extn("starttls")
            c, text = s.mail("r@reporter.example")
            assert c == 530 and b"STARTTLS" in text  # refused before STARTTLS
        with smtp(live) as s:
            ctx = ssl.create_default_context(cafile=str(cert))
            ctx.check_hostname = False
            s.starttls(context=ctx)
            assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
            assert s.sendmail("r@reporter.example", [to], submission(to, [spam("192.0.2.1", 1)])) == {}
    assert len(rows(db, reports)) == 1


# --- pure parts -------------------------------------------------------------------------------

CFG = SmtpConfig(domain="mailrep.test", fbl_feeds={"fbl-isp@feeds.example": "isp"},
                 traps=frozenset({"t@trap.example"}), trap_domains=frozenset({"pot.example"}))


@pytest.mark.parametrize(
    ("address", "door", "key"),
    [
        ("submit.ab12@mailrep.test", Door.SUBMIT, "ab12"),
        ("<Submit.AB12@MailRep.Test.>", Door.SUBMIT, "ab12"),
        ("fbl@mailrep.test", Door.FBL, "fbl"),
        ("FBL-ISP@feeds.example", Door.FBL, "isp"),
        ("t@trap.example", Door.TRAP, "traps"),
        ("whoever@pot.example", Door.TRAP, "traps"),
        ("submit.ab12@other.example", None, None),
        ("submit.@mailrep.test", None, None),
        ("postmaster@mailrep.test", None, None),
        ("no-at-sign", None, None),
        ("", None, None),
    ],
)
def test_classify(address, door, key):
    route = classify(address, CFG)
    assert (route.door if route else None, route.key if route else None) == (door, key)


def test_status_for_every_error_class():
    from mailrep import errors as e
    from mailrep.intake.forward import NoSpamAttached

    table = {
        NoSpamAttached("forward as attachment"): "554 5.6.0 forward as attachment",
        e.TooBig(): Reply.TOO_BIG, e.NotMail(): Reply.NOT_MAIL,
        e.NotAuthenticated(): Reply.UNKNOWN, e.NotFound(): Reply.UNKNOWN,
        e.OverQuota(): Reply.OVER_QUOTA, e.NotAllowed(): Reply.REFUSED,
        e.StorageError(): Reply.STORAGE, RuntimeError("boom"): Reply.LOCAL_ERROR,
    }
    for err, want in table.items():
        assert status_for(err) == want
    assert status_for(e.BadInput("odd")).startswith("501 5.5.4 odd")


def test_received_header_is_safe_names_the_peer_and_is_the_same_on_retry():
    kw = {"helo": "evil) [1.2.3.4]; x", "peer_ip": "198.51.100.4", "hostname": "mx.mailrep.test", "tls": True}
    head = received_header(raw=b"Subject: a\r\n\r\n", **kw)
    first = head.split(b"\r\n")[0]
    assert first == b"Received: from evil 1.2.3.4 x (unknown [198.51.100.4])"
    assert b"with ESMTPS id" in head and head.endswith(b"\r\n")
    assert head == received_header(raw=b"Subject: a\r\n\r\n", **kw)
    assert head != received_header(raw=b"Subject: b\r\n\r\n", **kw)


def test_trap_retry_and_two_traps_in_one_mail_count_once(db, tmp_path):
    cfg = {"traps": ["t1@trap.example", "t2@trap.example"]}
    with LiveSmtp(db, tmp_path, cfg) as live:
        for _ in range(2):  # a client retrying the same mail
            with smtp(live) as s:
                assert s.sendmail("x@bad.example", ["t1@trap.example", "t2@trap.example"],
                                  spam("203.0.113.50", 50)) == {}
    assert len(rows(db, trap_hits)) == 1


def test_build_reply_lists_each_report():
    from mailrep.intake.addresses import Route
    from mailrep.intake.reply import build_reply
    from mailrep.intake.service import Receipt
    from mailrep.intake.smtp.handler import Owner, Submission
    from mailrep.net import parse_hostport
    from mailrep.trace.message import Flag

    route = Route(Door.SUBMIT, "c0de", "submit.c0de@mailrep.test")
    owner = Owner(1, "alice")
    pairs = [
        (Submission(route, owner, spam("192.0.2.1", 1)), Receipt(7, "192.0.2.1", "http://x/api/v1/reports/7")),
        (Submission(route, owner, b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nx", (Flag("inline_forward", "sent inline"),)),
         Receipt(8, None, "http://x/api/v1/reports/8", duplicate=True)),
    ]
    msg = build_reply("alice@reporter.example", "robot@mailrep.test", pairs)
    text = msg.get_content()
    assert msg["To"] == "alice@reporter.example" and msg["Auto-Submitted"] == "auto-replied"
    assert msg["Subject"] == "mailrep: 2 reports received"
    assert "report 7\n" in text and "traced source: 192.0.2.1" in text and "http://x/api/v1/reports/7" in text
    assert "report 8 (already received earlier)" in text and "subject: café" in text
    assert "not found" in text and "note: sent inline" in text
    assert [parse_hostport(v, 25) for v in ("127.0.0.1:2526", "mx.example", "[::1]:25")] == [
        ("127.0.0.1", 2526), ("mx.example", 25), ("::1", 25)]


def test_per_isp_feedback_address_files_under_its_feed_account(db, tmp_path, corpus):
    raw = (corpus / "arf" / "sisimai" / "bsd-arf-17.eml").read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    cfg = {"fbl_feeds": {"complaints@isp-feeds.example": "isp-one"}}
    with LiveSmtp(db, tmp_path, cfg) as live, smtp(live) as s:
        assert s.sendmail("fbl@isp.example", ["complaints@isp-feeds.example"], raw) == {}
        with pytest.raises(smtplib.SMTPDataError) as e:  # a plain spam is not a complaint
            s.sendmail("fbl@isp.example", ["complaints@isp-feeds.example"], spam("192.0.2.9", 9))
        assert (e.value.smtp_code, e.value.smtp_error[:5]) == (554, b"5.6.0")
    [r] = rows(db, reports)
    with db.read() as conn:
        owner = conn.execute(sa.select(accounts_t.c.name, accounts_t.c.role).where(
            accounts_t.c.id == r["reporter_id"])).one()
    assert r["channel"] == "fbl" and tuple(owner) == ("isp-one", "feed")
