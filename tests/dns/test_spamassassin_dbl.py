"""Must show 2 of issue 18: a domain advertised in reports from 3 reporters appears on `dbl.`
as 127.0.1.2 and SpamAssassin's `urirhssub` rule on it fires; one reporter alone never lists a
domain. Reports go in over HTTP to a real `mailrep serve`, SpamAssassin asks its DNS door."""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from tests.dns.test_spamassassin import rules_hit, run_sa
from tests.peers import require
from tests.serve_proc import Serve, prepare_db

pytestmark = pytest.mark.peer

LISTED = "cheap-pills-now.com"
ALONE = "lonely-offer.com"

RULES = """\
dns_server 127.0.0.1:{port}
dns_available yes
use_bayes 0
util_rb_tld com net example test
add_header all Status _YESNO_, score=_SCORE_ tests=_TESTS_
urirhssub MAILREP_DBL dbl.mailrep.test. A 127.0.1.2
body      MAILREP_DBL eval:check_uridnsbl('MAILREP_DBL')
tflags    MAILREP_DBL net domains_only
score     MAILREP_DBL 4.0
"""


def spam(source_ip: str, n: int, *domains: str) -> bytes:
    links = "".join(f"Click http://www.{d}/offer?id={n}\n" for d in domains)
    stamp = format_datetime(datetime.now(UTC))
    return (
        f"Received: from sender{n}.example.net (sender{n}.example.net [{source_ip}])\n"
        f"\tby mx.reporter.example (Postfix) with ESMTP id A{n:08d}\n"
        f"\tfor <victim@reporter.example>; {stamp}\n"
        f"From: Spammer <spam{n}@example.net>\nTo: victim@reporter.example\n"
        f"Subject: offer {n}\nDate: {stamp}\nMessage-ID: <{n}.dbl@example.net>\n\n{links}"
    ).encode()


def wait_listed(base: str, domain: str, timeout: float = 30.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        view = httpx.get(f"{base}/api/v1/lookup/domain/{domain}", timeout=10).json()
        if view["listed"] or time.monotonic() > end:
            return view
        time.sleep(0.3)


def dig_a(port: int, name: str) -> str:
    out = subprocess.run([require("dig"), "-p", str(port), "@127.0.0.1", "+short", name, "A"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def test_three_reporters_list_a_domain_on_dbl_and_spamassassin_fires(db_url, tmp_path):
    sa = require("spamassassin")
    tokens, _ = prepare_db(db_url, reporters=3)
    srv = Serve(tmp_path / "var", db_url, dns=True).start()
    try:
        with httpx.Client(base_url=srv.base, timeout=10) as c:
            n = 0
            for i, token in enumerate(tokens):
                for _ in range(3 if i == 0 else 1):  # the first reporter alone also reports ALONE
                    n += 1
                    doms = (LISTED, ALONE) if i == 0 else (LISTED,)
                    r = c.post("/api/v1/reports", content=spam(f"45.7.0.{n}", n, *doms),
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"})
                    assert r.status_code == 202, r.text
        view = wait_listed(srv.base, LISTED)
        assert view["listed"] and view["evidence"]["reporters"] == 3, view
        alone = httpx.get(f"{srv.base}/api/v1/lookup/domain/{ALONE}", timeout=10).json()
        assert alone["listed"] is False and alone["evidence"]["reporters"] == 1, alone
        port = srv.ports["dns"]
        end = time.monotonic() + 15
        while dig_a(port, f"{LISTED}.dbl.mailrep.test") != "127.0.1.2" and time.monotonic() < end:
            time.sleep(0.3)  # the DNS snapshot follows the listings within a poll
        assert dig_a(port, f"{LISTED}.dbl.mailrep.test") == "127.0.1.2"
        assert dig_a(port, f"{ALONE}.dbl.mailrep.test") == ""
        site = tmp_path / "site"
        site.mkdir()
        (site / "init.pre").write_text("loadplugin Mail::SpamAssassin::Plugin::Check\n"
                                       "loadplugin Mail::SpamAssassin::Plugin::URIDNSBL\n")
        conf = tmp_path / "rules"
        conf.mkdir()
        (conf / "mailrep.cf").write_text(RULES.format(port=port))
        fired = run_sa(sa, conf, site, spam("151.101.65.140", 90, LISTED))
        quiet = run_sa(sa, conf, site, spam("151.101.65.140", 91, ALONE))
    finally:
        assert srv.stop(signal.SIGTERM) == 0
    assert "MAILREP_DBL" in rules_hit(fired), fired
    assert "MAILREP_DBL" not in rules_hit(quiet), quiet
