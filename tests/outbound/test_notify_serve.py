"""Abuse notification end to end over the wire: `mailrep serve` with a loopback RDAP server
(corpus answers) and an SMTP sink.

Must show 1: reports from two reporters about sources in two networks send ARF mail to exactly
the abuse contacts, with the spam attached, Source-IP the traced source, and neither
reporter's address nor their MX names anywhere; RDAP is asked once per network.
Must show 2: Sisimai (an independent parser) reads the mail as an abuse feedback report.
Must show 4: SIGKILL while sending; after the restart every queued notification is sent once.
"""

from __future__ import annotations

import email
import json
import subprocess
import time
from datetime import UTC, datetime
from email import policy

import httpx
import pytest
import sqlalchemy as sa

from mailrep.store import accounts
from mailrep.store.db import Database
from mailrep.store.tables import notify_outbox
from tests.outbound.harness import RdapServer, SlowSink
from tests.outbound.spam import spam
from tests.peers import require
from tests.serve_proc import MAILREP, Serve

MAIL = {"Content-Type": "message/rfc822"}
APNIC = "210.107.0.0/17"  # abuse: the IRT object; technical/admin contacts carry other addresses
RIPE = "130.59.0.0/16"  # abuse: abuse@switch.ch (vCard type=abuse)
NOT_ABUSE = ("ipadm@nic.bora.net", "abuse@bora.net", "security@bora.net")
REPORTERS = {
    "alice": {"to": "alice@reporter-a.example", "mx": "mx1.reporter-a.example", "store": "imap.reporter-a.example"},
    "bob": {"to": "bob@reporter-b.example", "mx": "mx.reporter-b.example", "store": "store.reporter-b.example"},
}
SOURCES = {"alice": ["210.107.73.73", "130.59.31.80"], "bob": ["210.107.5.6", "130.59.2.3"]}
EXPECT = {"210.107.73.73": ["hostmaster@nic.or.kr"], "210.107.5.6": ["hostmaster@nic.or.kr"],
          "130.59.31.80": ["abuse@switch.ch"], "130.59.2.3": ["abuse@switch.ch"]}


@pytest.fixture
def rdap(corpus):
    server = RdapServer({APNIC: corpus / "rdap/ipwhois/ip_210.107.73.73.json",
                         RIPE: corpus / "rdap/whoisit/data_rdap_response_ip_v4_2.json"})
    yield server
    server.close()


def _setup(tmp_path, db_url, rdap, sink) -> tuple[dict[str, str], dict[str, str]]:
    data = tmp_path / "var"
    data.mkdir(mode=0o700)
    (data / "mailrep.toml").write_text(
        "[notify]\nenabled = true\n"
        f'smarthost = "127.0.0.1:{sink.port}"\nfrom = "abuse-reports@mailrep.test"\n'
        f'rdap_bootstrap = "{rdap.url}bootstrap/ipv4.json"\npoll_seconds = 0.2\nretry_seconds = 0.2\n')
    db = Database(db_url)
    db.upgrade()
    tokens = {}
    now = datetime.now(UTC)
    with db.transaction() as conn:
        for name, r in REPORTERS.items():
            acc = accounts.create_account(conn, name, "reporter", now)
            accounts.add_reporter(conn, acc.id, mailhosts=r["mx"])
            tokens[name] = accounts.create_token(conn, acc.id, now)
    db.dispose()
    return tokens, {"MAILREP_DATA_DIR": str(data)}


def _submit(base: str, tokens: dict[str, str], n: int = 0) -> dict[int, str]:
    ids = {}
    with httpx.Client(timeout=20) as client:
        for name, ips in SOURCES.items():
            for k, ip in enumerate(ips):
                raw = spam(**REPORTERS[name], source=ip, subject=f"offer {n}-{k}", when=datetime.now(UTC),
                           token=f"{name}{k}x{n}a9b8c7d6e5")
                r = client.post(f"{base}/api/v1/reports", content=raw,
                                headers={"Authorization": f"Bearer {tokens[name]}", **MAIL})
                assert r.status_code == 202, r.text
                assert r.json()["source_ip"] == ip
                ids[r.json()["id"]] = ip
    return ids


def _sisimai(path) -> list[dict]:
    require("perl")
    script = "use Sisimai; print Sisimai->dump($ARGV[0]);"
    check = subprocess.run(["perl", "-MSisimai", "-e", "1"], capture_output=True)
    if check.returncode != 0:
        require("sisimai (Debian libsisimai-perl)")
    out = subprocess.run(["perl", "-e", script, str(path)], capture_output=True, check=True, text=True)
    return json.loads(out.stdout)


def test_reports_reach_exactly_the_abuse_contacts(db_url, tmp_path, rdap):
    with SlowSink() as sink:
        tokens, env = _setup(tmp_path, db_url, rdap, sink)
        srv = Serve(tmp_path / "var", db_url, env=env).start()
        try:
            ids = _submit(srv.base, tokens)
            assert sink.wait(len(ids)), srv.log
            time.sleep(0.5)  # nothing more may come
        finally:
            srv.stop()
        assert len(sink.messages) == len(ids) == 4
        by_source = {}
        for mail_from, rcpts, data in sink.messages:
            assert mail_from == "abuse-reports@mailrep.test"
            msg = email.message_from_bytes(data, policy=policy.default)
            assert msg.get_content_type() == "multipart/report"
            _, report, original = msg.iter_parts()
            fields = report.get_payload(0) if report.is_multipart() else email.message_from_bytes(
                report.get_payload(decode=True))
            by_source[fields["Source-IP"]] = (rcpts, data)
            assert fields["Feedback-Type"] == "abuse"
            assert original.get_content_type() == "message/rfc822"
            assert original.get_payload(0)["Subject"].startswith("offer ")
            assert rcpts == EXPECT[fields["Source-IP"]]
            assert msg["To"] == ", ".join(rcpts)
            text = data.decode("utf-8", "replace").lower()
            for r in REPORTERS.values():
                for secret in (r["to"], r["mx"], r["store"], r["to"].replace("@", "%40")):
                    assert secret not in text
            for addr in NOT_ABUSE:
                assert addr not in text
        assert set(by_source) == set(EXPECT)
        # RDAP asked once per network, however many reports
        assert dict(rdap.queries) == {"ip_210.107.73.73.json": 1, "data_rdap_response_ip_v4_2.json": 1}

        # must show 2: an independent parser reads it as an abuse feedback report
        path = tmp_path / "arf.eml"
        path.write_bytes(by_source["130.59.31.80"][1])
        parsed = _sisimai(path)
        assert len(parsed) == 1
        assert parsed[0]["reason"] == "feedback" and parsed[0]["feedbacktype"] == "abuse"
        assert parsed[0]["rhost"] == "130.59.31.80"

        # the CLI sees the cache and the outbox
        env_cli = {"MAILREP_DATABASE_URL": db_url, **env}
        out = _cli(["abuse-contact", "210.107.5.6"], env_cli)
        assert "hostmaster@nic.or.kr" in out and "from cache" in out and APNIC in out
        assert "sent 4" in _cli(["notify", "status"], env_cli)
        assert dict(rdap.queries) == {"ip_210.107.73.73.json": 1, "data_rdap_response_ip_v4_2.json": 1}


def _cli(args: list[str], env: dict[str, str]) -> str:
    import os

    out = subprocess.run([*MAILREP, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_sigkill_during_sending_then_each_notification_is_sent_once(db_url, tmp_path, rdap):
    with SlowSink(delay=1.0) as sink:
        tokens, env = _setup(tmp_path, db_url, rdap, sink)
        srv = Serve(tmp_path / "var", db_url, env=env).start()
        ids: dict[int, str] = {}
        try:
            for n in range(3):
                ids.update(_submit(srv.base, tokens, n))
            assert sink.wait(2, timeout=60, in_flight=1), srv.log
        finally:
            srv.kill()  # SIGKILL with mails in flight at the slow sink
        time.sleep(1.0)  # let the sink see the connections drop
        assert len(sink.messages) < len(ids)
        assert sink.abandoned >= 1  # the kill hit mails being sent
        srv = Serve(tmp_path / "var", db_url, env=env).start()
        try:
            assert sink.wait(len(ids), timeout=120), (len(sink.messages), srv.log)
            time.sleep(1.0)
        finally:
            srv.stop()
        seen = [email.message_from_bytes(d, policy=policy.default)["Message-ID"] for _, _, d in sink.messages]
        assert len(seen) == len(set(seen)) == len(ids), f"{len(seen)} mails, {len(set(seen))} distinct, {len(ids)} reports"
        assert sorted(seen) == sorted(f"<arf-{rid}@mailrep.test>" for rid in ids)
        db = Database(db_url)
        try:
            with db.read() as conn:
                states = conn.execute(sa.select(notify_outbox.c.state, sa.func.count())
                                      .group_by(notify_outbox.c.state)).all()
        finally:
            db.dispose()
        assert dict(states) == {"sent": len(ids)}
