"""Unmodified SpamAssassin asks `mailrep dns` through `dns_server` and its check_rbl rule fires
on mail whose last external relay is listed, and not on mail from an unlisted relay."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.dns.conftest import mailrep_dns
from tests.peers import require

pytestmark = pytest.mark.peer

LISTED = "93.184.216.34"  # public addresses (SpamAssassin never asks about private ones)
UNLISTED = "151.101.65.140"

ZONE_DATA = f"""\
$SOA 300 ns.bl.mailrep.test hostmaster.mailrep.test 1 3600 600 86400 60
:127.0.0.2:Blocked - see https://mailrep.test/lookup?ip=$
127.0.0.2
{LISTED}
"""

RULES = """\
dns_server 127.0.0.{one}:{port}
dns_available yes
use_bayes 0
util_rb_tld example test com
add_header all Status _YESNO_, score=_SCORE_ tests=_TESTS_
header   RCVD_IN_MAILREP eval:check_rbl('mailrep-lastexternal', 'bl.mailrep.test.')
describe RCVD_IN_MAILREP Relay is listed in the mailrep blocklist
tflags   RCVD_IN_MAILREP net
score    RCVD_IN_MAILREP 4.0
header   RCVD_IN_MAILREP_2 eval:check_rbl_sub('mailrep-lastexternal', '127.0.0.2')
tflags   RCVD_IN_MAILREP_2 net
score    RCVD_IN_MAILREP_2 0.1
"""


def message(ip: str) -> bytes:
    return (
        f"Received: from mx.recipient.example (mx.recipient.example [10.0.0.5])\r\n"
        f"\tby mail.recipient.example (Postfix) with ESMTP id 1A2B3C\r\n"
        f"\tfor <user@recipient.example>; Thu, 26 Nov 2026 10:00:05 +0000\r\n"
        f"Received: from sender.example (sender.example [{ip}])\r\n"
        f"\tby mx.recipient.example (Postfix) with ESMTP id 4D5E6F\r\n"
        f"\tfor <user@recipient.example>; Thu, 26 Nov 2026 10:00:00 +0000\r\n"
        f"From: someone@sender.example\r\nTo: user@recipient.example\r\n"
        f"Subject: hello\r\nDate: Thu, 26 Nov 2026 09:59:58 +0000\r\n"
        f"Message-ID: <x{ip.replace('.', '')}@sender.example>\r\n\r\nhello\r\n"
    ).encode()


def run_sa(sa: str, conf, site, msg: bytes) -> str:
    out = subprocess.run(
        [sa, "-t", "-C", str(conf), "--siteconfigpath", str(site), "-x", "--cf", "report_safe 0"],
        input=msg, capture_output=True, timeout=120,
    )
    return out.stdout.decode("latin-1") + out.stderr.decode("latin-1")


def test_spamassassin_check_rbl(tmp_path):
    sa = require("spamassassin")
    data = tmp_path / "bl.txt"
    data.write_text(ZONE_DATA)
    site = tmp_path / "site"
    site.mkdir()
    # only the plugins this rule needs: nothing else may reach for the network
    (site / "init.pre").write_text("loadplugin Mail::SpamAssassin::Plugin::Check\n"
                                   "loadplugin Mail::SpamAssassin::Plugin::DNSEval\n")
    with mailrep_dns([f"bl.mailrep.test:ip4set:{data}"]) as (_proc, port):
        conf = tmp_path / "rules"  # -C takes a directory of .cf files (no stock rules loaded)
        conf.mkdir()
        (conf / "mailrep.cf").write_text(RULES.format(one=1, port=port))
        listed = run_sa(sa, conf, site, message(LISTED))
        unlisted = run_sa(sa, conf, site, message(UNLISTED))
    assert rules_hit(listed) >= {"RCVD_IN_MAILREP", "RCVD_IN_MAILREP_2"}, listed
    assert not {"RCVD_IN_MAILREP", "RCVD_IN_MAILREP_2"} & rules_hit(unlisted), unlisted


def rules_hit(output: str) -> set[str]:
    m = re.search(r"^X-Spam-Status: .*?tests=([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", output, re.M)
    assert m, output
    return {t for t in re.split(r"[,\s]+", m.group(1)) if t and t != "none"}
