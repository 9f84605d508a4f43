"""Must show 1 of issue 18, with the real Debian Postfix (its own instance on a loopback port,
resolving through unbound with a stub zone for mailrep's base), configured by the snippet of
`mailrep client-config postfix`: a listed client (XCLIENT via swaks) is refused with Postfix's
DNSBL reply carrying mailrep's TXT link; a clean one is accepted; a client whose reputation is
below `reject_below` is refused by a policy service (a fake score source until reputation
scores exist); 4 mails accepted show as volume 4; `mailrep ship postfix` over Postfix's own log
adds the messages once, and again adds nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time

import pytest
import sqlalchemy as sa

from mailrep.policyd.server import PolicyServer
from mailrep.policyd.verdict import PolicydConfig, View
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


class FakeScorePolicy:
    """A policy service in this process answering from a fixed score mapping."""

    def __init__(self, scores: dict[str, float]) -> None:
        self.server = PolicyServer(View(None, "bl.mailrep.test", scores),
                                   PolicydConfig(site_url=SITE, reject_below=-5.0))
        self.loop = asyncio.new_event_loop()
        self.port = 0

    def __enter__(self) -> FakeScorePolicy:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.port = self.loop.run_until_complete(self.server.start("127.0.0.1", 0))[1]
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def mailrep(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MAILREP, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_postfix_with_mailrep(db_url, tmp_path):
    _tokens, other = prepare_db(db_url, reporters=0)
    data = tmp_path / "var"
    data.mkdir(mode=0o700)
    (data / "mailrep.toml").write_text("[policyd]\nflush_seconds = 0.5\n")
    env = {"MAILREP_DATABASE_URL": db_url, "MAILREP_DATA_DIR": str(data)}
    listed = mailrep("list", LISTED, "--reason", "test listing", env=env)
    assert listed.returncode == 0, listed.stderr
    srv = Serve(data, db_url, dns=True, policy=True, env={"MAILREP_SITE_URL": SITE}).start()
    try:
        snippet = mailrep("client-config", "postfix", "--policy", f"127.0.0.1:{srv.ports['policy']}", env=env)
        assert snippet.returncode == 0, snippet.stderr
        with FakeScorePolicy({POOR: -9.0}) as fake, Unbound("mailrep.test", srv.ports["dns"]) as resolver:
            restrictions = snippet.stdout.rstrip() + f",\n    check_policy_service inet:127.0.0.1:{fake.port}\n"
            with Postfix(restrictions, resolver=resolver.address) as mx:
                refused = swaks(mx.port, LISTED, n=1)
                assert f"blocked using bl.mailrep.test; Blocked - see {SITE}/lookup?ip={LISTED}" in refused, refused
                poor = swaks(mx.port, POOR, n=2)
                assert f"Poor reputation (score -9.0) - see {SITE}/lookup?ip={POOR}" in poor, poor
                for n in range(3, 7):
                    ok = swaks(mx.port, CLEAN, n=n)
                    assert "250 2.0.0 Ok: queued" in ok, ok
                assert wait(lambda: volume(db_url, CLEAN) == 4), volume(db_url, CLEAN)
                assert volume(db_url, LISTED) == 0  # refused by the DNSBL before the policy service
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
