"""Must show 1 of issue 18, with the real Debian Postfix (its own instance on a loopback port,
resolving through unbound with a stub zone for mailrep's base), configured by the snippet of
`mailrep client-config postfix`: a listed client (XCLIENT via swaks) is refused with Postfix's
DNSBL reply carrying mailrep's TXT link; a clean one is accepted; a client whose reputation is
below `reject_below` is refused by mailrep's own policy service (`serve --policy`), its score
made over the wire (volume telemetry and complaints from three reporters, then the recompute of
`[reputation] recompute_interval`) and exempt from listing so that the policy service, not the
DNSBL, refuses it; 4 mails accepted show as volume 4; `mailrep ship postfix` over Postfix's own
log adds the messages once, and again adds nothing."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from tests.intake.mail import spam
from tests.policyd.mailserver import Postfix, Unbound, swaks
from tests.serve_proc import MAILREP, Serve, prepare_db

pytestmark = pytest.mark.peer

SITE = "https://rep.pf18.example"
LISTED, CLEAN, POOR = "45.7.1.1", "45.7.2.2", "45.7.3.3"


def volume(db_url: str, ip: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT coalesce(sum(count), 0) FROM volume WHERE ip = :ip"),
                                    {"ip": ip}).scalar_one())
    finally:
        engine.dispose()


def wait(cond, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def mailrep(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILREP, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def policy_action(port: int, ip: str) -> str:
    """The policy service's action for a client (the Postfix policy protocol, at DATA: not counted)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"request=smtpd_access_policy\nprotocol_state=DATA\nclient_address={ip}\n\n".encode())
        answer = b""
        while not answer.endswith(b"\n\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.decode().strip().removeprefix("action=")


def make_poor(srv: Serve, tokens: list[str], feed: str, deputy: str) -> float:
    """POOR's reputation made over the wire: 20 messages of telemetry, a complaint from each of
    three reporters; returns its score once a recompute has seen all three (below -5)."""
    with httpx.Client(base_url=srv.base, timeout=10) as c:
        now = datetime.now(UTC)
        period = {"start": (now - timedelta(days=1)).isoformat(), "end": now.isoformat()}
        r = c.post("/api/v1/volume", headers={"Authorization": f"Bearer {feed}"},
                   json=[{"ip": POOR, "count": 20, **period}])
        assert r.status_code == 202, r.text
        for i, token in enumerate(tokens):
            r = c.post("/api/v1/reports", content=spam(POOR, n=i),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"})
            assert r.status_code == 202 and r.json()["source_ip"] == POOR, r.text

        def rep() -> dict:
            r = c.get(f"/api/v1/reputation/{POOR}")
            assert r.status_code == 200, r.text
            return r.json()

        # the served score is the recompute's (rep_current), not this view's: wait for both
        assert wait(lambda: rep()["complaints"]["day"] == 3 and (rep()["score"] or 0) < -5), rep()
        poor = rep()
        assert poor["listed"] is False and poor["volume"]["day"] == 20, poor
        # three fresh reports would list it at this volume; the operator exemption keeps it off bl.
        why = c.get(f"/api/v1/explain/{POOR}", headers={"Authorization": f"Bearer {deputy}"}).json()
        assert why["listed"] is False and why["never_listed"] and why["reporters"] == 3, why
        return float(poor["score"])


def test_postfix_with_mailrep(db_url, tmp_path):
    tokens, other = prepare_db(db_url, reporters=3)
    data = tmp_path / "var"
    data.mkdir(mode=0o700)
    (data / "mailrep.toml").write_text("[policyd]\nflush_seconds = 0.5\nreject_below = -5.0\n"
                                       "[reputation]\nrecompute_interval = 1\n"
                                       f"[policy]\nexemptions = [\"{POOR}/32\"]\n")
    env = {"MAILREP_DATABASE_URL": db_url, "MAILREP_DATA_DIR": str(data)}
    listed = mailrep("list", LISTED, "--reason", "test listing", env=env)
    assert listed.returncode == 0, listed.stderr
    srv = Serve(data, db_url, dns=True, policy=True, env={"MAILREP_SITE_URL": SITE}).start()
    try:
        score = make_poor(srv, tokens, other["feed"], other["deputy"])
        # the policy view reloads the recomputed scores in the background (not at a DNS change)
        assert wait(lambda: policy_action(srv.ports["policy"], POOR).startswith("REJECT Poor reputation")), \
            policy_action(srv.ports["policy"], POOR)
        snippet = mailrep("client-config", "postfix", "--policy", f"127.0.0.1:{srv.ports['policy']}", env=env)
        assert snippet.returncode == 0, snippet.stderr
        assert f"check_policy_service {{ inet:127.0.0.1:{srv.ports['policy']}," in snippet.stdout, snippet.stdout
        with (Unbound("mailrep.test", srv.ports["dns"]) as resolver,
              Postfix(snippet.stdout, resolver=resolver.address) as mx):
            refused = swaks(mx.port, LISTED, n=1)
            assert f"blocked using bl.mailrep.test; Blocked - see {SITE}/lookup?ip={LISTED}" in refused, refused
            poor = swaks(mx.port, POOR, n=2)
            m = re.search(r"Poor reputation \(score (-?\d+\.\d)\) - see (\S+)", poor)
            assert m and m.group(2) == f"{SITE}/lookup?ip={POOR}", poor
            assert float(m.group(1)) < -5.0 and abs(float(m.group(1)) - score) <= 0.5, (score, poor)
            assert "blocked using" not in poor, poor  # the policy service refused it, not the DNSBL
            for n in range(3, 7):
                ok = swaks(mx.port, CLEAN, n=n)
                assert "250 2.0.0 Ok: queued" in ok, ok
            assert wait(lambda: volume(db_url, CLEAN) == 4), volume(db_url, CLEAN)
            assert volume(db_url, LISTED) == 0  # refused by the DNSBL before the policy service
            assert volume(db_url, POOR) == 20 + 1  # the telemetry and the refused RCPT (counted like any)
            assert wait(lambda: mx.maillog.read_text().count("postfix/qmgr") >= 4)
            ship = ["ship", "postfix", str(mx.maillog), "--url", srv.base, "--token", other["feed"],
                    "--state", str(tmp_path / "ship.json"), "--once"]
            first = mailrep(*ship, env=env)
            assert first.returncode == 0 and "4 message(s) shipped" in first.stderr, first.stderr
            assert volume(db_url, CLEAN) == 8
            again = mailrep(*ship, env=env)
            assert again.returncode == 0 and "0 message(s) shipped" in again.stderr, again.stderr
            assert volume(db_url, CLEAN) == 8
    finally:
        srv.stop()
