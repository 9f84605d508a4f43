"""Must show 3 of issue 18: each `mailrep client-config` snippet is accepted by its program
(`postfix check`, `spamassassin --lint`, `exim -bV`, `rspamadm configtest`); a broken copy of
each is refused, so the checks do check."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.peers import IN_CI, require
from tests.policyd.mailserver import Postfix
from tests.serve_proc import MAILREP

pytestmark = pytest.mark.peer

EXIM = Path(os.environ.get("MAILREP_EXIM", "/opt/mailrep-peers/exim4/usr/sbin/exim4"))


def snippet(program: str, tmp_path: Path) -> str:
    r = subprocess.run([*MAILREP, "client-config", program, "--data-dir", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "MAILREP_ZONE_BASE": "rep.example"})
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "none").exists()  # printing a snippet creates nothing
    return r.stdout


def test_unknown_program():
    r = subprocess.run([*MAILREP, "client-config", "sendmail"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "postfix, spamassassin, exim, rspamd" in r.stderr, r.stderr


def _postconf_warnings(mx: Postfix) -> str:
    r = subprocess.run([require("postconf"), "-c", str(mx.dir), "-n"], capture_output=True, text=True)
    return r.stderr


def test_postfix_check(tmp_path):
    text = snippet("postfix", tmp_path)
    assert "reject_rbl_client bl.rep.example=127.0.0.2" in text
    assert "reject_rhsbl_sender dbl.rep.example=127.0.1.2" in text
    mx = Postfix(text)
    try:
        mx.write()
        r = mx.check()
        assert r.returncode == 0, r.stdout + r.stderr
        assert _postconf_warnings(mx) == ""
    finally:
        shutil.rmtree(mx.dir, ignore_errors=True)
    bad = Postfix(text.replace("check_policy_service {", "check_policy_service {{"))
    try:
        bad.write()
        r = subprocess.run([require("postconf"), "-c", str(bad.dir), "smtpd_recipient_restrictions"],
                           capture_output=True, text=True)
        # postconf parses the {...} grouping: an unbalanced brace is reported
        assert r.returncode != 0 or "warning" in r.stderr or "fatal" in r.stderr, r.stdout
    finally:
        shutil.rmtree(bad.dir, ignore_errors=True)


def test_spamassassin_lint(tmp_path):
    sa = require("spamassassin")
    text = snippet("spamassassin", tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    (site / "init.pre").write_text("loadplugin Mail::SpamAssassin::Plugin::Check\n"
                                   "loadplugin Mail::SpamAssassin::Plugin::DNSEval\n"
                                   "loadplugin Mail::SpamAssassin::Plugin::URIDNSBL\n")
    for body, ok in ((text, True), (text.replace("eval:check_uridnsbl", "eval:check_uridnsbl_typo)"), False)):
        rules = tmp_path / ("good" if ok else "bad")
        rules.mkdir()
        (rules / "mailrep.cf").write_text(body)
        r = subprocess.run([sa, "--lint", "-C", str(rules), "--siteconfigpath", str(site)],
                           capture_output=True, text=True, timeout=120)
        assert (r.returncode == 0) is ok, r.stdout + r.stderr


def _exim() -> str:
    if EXIM.is_file():
        return str(EXIM)
    if IN_CI:
        pytest.fail(f"exim not found at {EXIM}: run scripts/install-peers")
    pytest.skip(f"exim not found at {EXIM}: run scripts/install-peers")


def test_exim_bv(tmp_path):
    exim = _exim()
    text = snippet("exim", tmp_path)
    env = {**os.environ, "LD_LIBRARY_PATH": str(EXIM.parents[2] / "usr/lib/x86_64-linux-gnu")}
    for body, ok in ((text, True), (text.replace("dnslists =", "dnslistz ="), False)):
        conf = tmp_path / f"exim-{ok}.conf"
        conf.write_text("primary_hostname = mx.rep.example\nacl_smtp_rcpt = acl_check_rcpt\n"
                        f"begin acl\nacl_check_rcpt:\n{body}  accept\n")
        r = subprocess.run([exim, "-C", str(conf), "-bV"], capture_output=True, text=True, env=env, timeout=60)
        assert (r.returncode == 0) is ok, r.stdout + r.stderr


def test_rspamadm_configtest(tmp_path):
    rspamadm = require("rspamadm")
    text = snippet("rspamd", tmp_path)
    for body, ok in ((text, True), (text.replace("rbl = ", "rbll = "), False)):
        local = tmp_path / f"local-{ok}"
        (local / "local.d").mkdir(parents=True)
        (local / "local.d" / "rbl.conf").write_text(body)
        r = subprocess.run([rspamadm, f"--var=LOCAL_CONFDIR={local}", "configtest", "-c", "/etc/rspamd/rspamd.conf"],
                           capture_output=True, text=True, timeout=120)
        # rspamd's modules report a bad section on stderr ("invalid config for mailrep_bl")
        # and disable it, while the UCL syntax stays OK
        assert "syntax OK" in r.stdout, r.stdout + r.stderr
        assert ("invalid config for mailrep" not in r.stderr) is ok, r.stderr
