"""Issue 16's must-shows over the wire: `mailrep serve --dns` with 5 reporters posting spam,
volume telemetry from a feed, the `mailrep sender|bond` commands, the sender's API, `dig` on
the `wl.` zone, `hledger` reading the statement, `mailrep bond verify` after a hand edit.
Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from tests.intake.mail import spam
from tests.peers import require
from tests.serve_proc import MAILREP, Serve, prepare_db

MAIL = {"Content-Type": "message/rfc822"}
ACME, THIN, NEW = "45.6.10.7", "45.6.11.7", "45.6.12.7"


def mailrep(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([*MAILREP, *args], capture_output=True, text=True, timeout=120, env=env)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def test_bonded_senders_end_to_end(db_url, tmp_path):
    dig = require("dig")
    hledger = require("hledger")
    tokens, other = prepare_db(db_url, reporters=5)
    data = tmp_path / "var"
    env = {**os.environ, "MAILREP_DATA_DIR": str(data), "MAILREP_DATABASE_URL": db_url}
    admin = mailrep(env, "token", "create", "--role", "admin", "boss").stdout.split()[-1]
    srv = Serve(data, db_url, dns=True).start()
    port = str(srv.ports["dns"])

    def query(name: str, rtype: str = "A") -> str:
        return subprocess.run([dig, "@127.0.0.1", "-p", port, "+short", "+tries=1", "+time=2", name, rtype],
                              capture_output=True, text=True, timeout=10).stdout.strip()

    def eventually(name: str, want: str) -> str:
        end = time.monotonic() + 15
        while time.monotonic() < end and query(name) != want:
            time.sleep(0.25)
        return query(name)

    def wl(ip: str) -> str:
        return ".".join(reversed(ip.split("."))) + ".wl.mailrep.test"

    try:
        with httpx.Client(base_url=srv.base, timeout=20) as c:
            # enrolment, review, deposits (one by the API, retried: counts once)
            mailrep(env, "sender", "add", "acme", "--ips", "45.6.10.0/24", "--domains", "acme.example")
            mailrep(env, "sender", "add", "thin", "--ips", "45.6.11.0/24", "--trust", "2")
            mailrep(env, "sender", "add", "new", "--ips", "45.6.12.0/24")
            for name in ("acme", "thin"):
                mailrep(env, "sender", "approve", name, "--reason", "identity and practices checked")
            for _ in range(2):
                r = c.post("/api/v1/senders/acme/deposits", json={"amount": "5000.00", "reference": "wire-1"},
                           headers={"Authorization": f"Bearer {admin}"})
                assert r.status_code == 200, r.text
            assert c.post("/api/v1/senders/acme/deposits", json={"amount": "1.00", "reference": "x"},
                          headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 403
            mailrep(env, "bond", "deposit", "thin", "1010.00", "--reference", "t-1")
            mailrep(env, "bond", "deposit", "new", "9000.00", "--reference", "n-1")
            assert mailrep(env, "bond", "balance", "acme").stdout.strip() == "5000.00 USD"

            # the allowlist: approved and funded only; the test point; never "Blocked"
            assert eventually(wl(ACME), "127.0.15.1") == "127.0.15.1"
            assert query(wl(THIN)) == "127.0.15.2"
            assert query(wl(NEW)) == ""
            txt = query(wl(ACME), "TXT")
            assert "acme" in txt and "bonded sender" in txt and "Blocked" not in txt
            assert query("2.0.0.127.wl.mailrep.test") == "127.0.0.2"
            assert "Blocked" not in query("2.0.0.127.wl.mailrep.test", "TXT")
            assert query("1.0.0.127.wl.mailrep.test") == ""

            # 2,000 messages of volume; 5 complaints from 5 reporters; 3 against thin, 4 against new
            now = datetime.now(UTC)
            r = c.post("/api/v1/volume", headers={"Authorization": f"Bearer {other['feed']}"},
                       json=[{"ip": ACME, "count": 2000, "start": (now - timedelta(days=1)).isoformat(),
                              "end": now.isoformat()}])
            assert r.status_code == 202, r.text
            for i, tok in enumerate(tokens):
                for ip, upto in ((ACME, 5), (THIN, 3), (NEW, 4)):
                    if i < upto:
                        r = c.post("/api/v1/reports", content=spam(ip, n=i), headers={
                            "Authorization": f"Bearer {tok}", **MAIL})
                        assert r.status_code == 202, r.text

            mailrep(env, "bond", "recompute")
            for _ in range(2):  # further recomputes change nothing
                mailrep(env, "bond", "recompute")
            assert mailrep(env, "bond", "balance", "acme").stdout.strip() == "4940.00 USD"
            assert mailrep(env, "bond", "balance", "thin").stdout.strip() == "950.00 USD"
            assert mailrep(env, "bond", "balance", "new").stdout.strip() == "8920.00 USD"

            # thin fell below the minimum: suspended, off the allowlist; acme stays; new never on
            assert eventually(wl(THIN), "") == ""
            assert query(wl(ACME)) == "127.0.15.1" and query(wl(NEW)) == ""

            # the sender's view and a dispute, reversed by a deputy: 20.00 back
            sender = mailrep(env, "token", "create", "--role", "sender", "acme").stdout.split()[-1]
            auth = {"Authorization": f"Bearer {sender}"}
            me = c.get("/api/v1/senders/me", headers=auth).json()
            assert me["balance"] == "4940.00" and me["window"]["allowance"] == 2
            assert me["window"]["complaints"] == 5 and me["window"]["complaint_rate"] == "0.0025"
            assert len(me["debits"]) == 3 and me["allowlisted"] is True
            assert me["debits"][0]["report"]["source_ip"] == ACME and "reporter" not in me["debits"][0]["report"]
            assert c.get("/api/v1/senders/me", headers={"Authorization": f"Bearer {tokens[0]}"}).status_code == 403
            r = c.post("/api/v1/senders/me/disputes", headers=auth,
                       json={"transaction": me["debits"][0]["transaction"], "reason": "a forwarder, not us"})
            assert r.status_code == 201, r.text
            mailrep(env, "bond", "dispute", "approve", str(r.json()["id"]), "--reason", "forwarded mail")
            assert mailrep(env, "bond", "balance", "acme").stdout.strip() == "4960.00 USD"
            mailrep(env, "bond", "recompute")
            assert mailrep(env, "bond", "balance", "acme").stdout.strip() == "4960.00 USD"
            assert c.get("/api/v1/senders/me", headers=auth).json()["disputes"][0]["status"] == "approved"

        # hledger reads the statement and shows the same balance
        ledger = tmp_path / "statement.ledger"
        ledger.write_text(mailrep(env, "bond", "statement", "acme", "--format", "ledger").stdout)
        out = subprocess.run([hledger, "-f", str(ledger), "balance", "--flat"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert any(line.split() == ["-4960.00", "USD", "liabilities:bonds:acme"] for line in out.stdout.splitlines()), out.stdout

        # verify passes, then fails naming the entry after one amount is changed by hand
        assert "ledger ok" in mailrep(env, "bond", "verify").stdout
        engine = sa.create_engine(db_url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE ledger_entries SET amount = amount + 100 WHERE seq = 8"))
        finally:
            engine.dispose()
        bad = mailrep(env, "bond", "verify", check=False)
        assert bad.returncode == 1 and "entry 8: hash mismatch" in bad.stderr
    finally:
        assert srv.stop() == 0
