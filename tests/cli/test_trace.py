"""`mailrep trace`: the JSON-lines contract, bad input that never stops a batch, --mailhosts,
--explain, mbox files. Most cases run the typer app in-process; one runs the installed script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mailrep.cli.trace import register
from mailrep.trace import mbox

KEYS = {"file", "source", "hops", "flags", "urls", "arf", "error"}
HOP_KEYS = {"ip", "rdns", "helo", "by", "ident", "envfrom", "id", "auth", "date", "trusted", "why"}

MSG = (
    b"Received: from mx.example.org (mx.example.org [192.0.2.25]) by inbox.example.org (Postfix) with ESMTP id 1; Mon, 11 Oct 2010 14:00:05 +0000\n"
    b"Received: from spam.example.net (spam.example.net [198.51.100.7]) by mx.example.org (Postfix) with ESMTP id 2; Mon, 11 Oct 2010 14:00:00 +0000\n"
    b"Subject: buy\n\nVisit http://shop.example.com/now\n"
)


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    register(app)
    return app


def run(*args: str, input: bytes | None = None) -> tuple[int, str]:
    r = CliRunner().invoke(_app(), ["trace", *args], input=input)
    return r.exit_code, r.stdout


def lines(out: str) -> list[dict]:
    return [json.loads(x) for x in out.splitlines() if x.strip()]


@pytest.fixture
def msg_file(tmp_path: Path) -> Path:
    p = tmp_path / "one.eml"
    p.write_bytes(MSG)
    return p


def test_contract_and_bad_inputs_never_stop_the_batch(tmp_path, msg_file):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 40)
    code, out = run(str(msg_file), str(tmp_path / "missing.eml"), str(tmp_path), str(junk), str(msg_file))
    got = lines(out)
    assert code == 1  # some inputs could not be traced
    assert [d["file"] for d in got] == [str(msg_file), str(tmp_path / "missing.eml"), str(tmp_path), str(junk), str(msg_file)]
    for d in got:
        assert set(d) == KEYS
    ok = got[0]
    assert ok["error"] is None and ok["source"] == {"ip": "192.0.2.25", "reason": ok["source"]["reason"]}
    assert [h["ip"] for h in ok["hops"]] == ["192.0.2.25", "198.51.100.7"]  # newest first
    for h in ok["hops"]:
        assert set(h) >= HOP_KEYS and h["trusted"] is False
    assert ok["hops"][0]["date"] == "2010-10-11T14:00:05+00:00"
    assert ok["urls"] == [{"url": "http://shop.example.com/now", "host": "shop.example.com", "domain": "example.com"}]
    assert ok["arf"] is None
    assert "cannot read" in got[1]["error"] and got[2]["error"] == "is a directory"
    assert got[3]["error"].startswith("not_mail") and got[3]["source"]["ip"] is None
    assert got[4] == ok


def test_mailhosts_moves_the_source(msg_file):
    for spec in ("192.0.2.0/24", "mx.example.org", "10.0.0.0/8|mx.example.org", "*.example.org"):
        code, out = run("--mailhosts", spec, str(msg_file))
        assert code == 0
        assert lines(out)[0]["source"]["ip"] == "198.51.100.7", spec
    code, out = run("--mailhosts", "not a host!", str(msg_file))
    assert code == 2 and out == ""


def test_stdin_and_explain(msg_file):
    code, out = run("-", input=MSG)
    assert code == 0 and lines(out)[0]["file"] == "-"
    code, out = run("--explain", "--mailhosts", "192.0.2.0/24", str(msg_file))
    assert code == 0
    assert "Source: 198.51.100.7" in out
    assert "[trusted  ] from 192.0.2.25" in out and "[UNTRUSTED] from 198.51.100.7" in out
    assert "this is the source" in out
    assert "trusted networks 127.0.0.0/8 ::1/128 192.0.2.0/24" in out


def test_mbox_gives_one_line_per_message(tmp_path):
    box = tmp_path / "box.mbox"
    parts = [b"From a@example.org Mon Oct 11 14:00:00 2010\n" + MSG.replace(b"198.51.100.7", b"198.51.100.%d" % i) for i in (1, 2, 3)]
    box.write_bytes(b"\n".join(parts))
    code, out = run(str(box))
    got = lines(out)
    assert code == 0
    assert [d["message"] for d in got] == [1, 2, 3]
    assert [d["hops"][1]["ip"] for d in got] == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]


@pytest.mark.parametrize(
    ("data", "n"),
    [(b"Subject: x\n\nFrom here on\n", 1), (b"From a b\nSubject: x\n\nbody\nFrom me\n", 1),
     (b"From a Mon Oct 11 14:00:00 2010\nS: 1\n\nx\n\nFrom c Tue Oct 12 14:00:00 2010\nS: 2\n\ny\n", 2),
     (b"From a Mon Oct 11 14:00:00 2010\r\nS: 1\r\n\r\nx\r\n\r\nFrom MAILER-DAEMON  Fri Jul  8 12:08:34 2011\r\nS: 2\r\n\r\ny", 2),
     # unescaped body lines starting with From are not separators
     (b"From a Mon Oct 11 14:00:00 2010\nS: 1\n\nx\n\nFrom the desk of Mr Smith: hello\n\nFrom me Mon to you\nnot a header\n", 1),
     (b"", 1)],
)
def test_split_mbox(data, n):
    assert len(mbox.split(data)) == n


def test_arf_report_through_the_command(corpus):
    items = json.loads((corpus / "arf" / "arf_cases.json").read_text())["items"]
    path = corpus / next(c["file"] for c in items if c["file"].endswith("stalwart-mail-auth/001.eml"))
    code, out = run(str(path))
    d = lines(out)[0]
    assert code == 0 and d["arf"]["feedback_type"] == "abuse"
    assert d["source"]["ip"] and d["hops"]  # the embedded original was traced


def test_installed_script(msg_file):
    exe = Path(sys.executable).with_name("mailrep")
    r = subprocess.run([str(exe), "trace", str(msg_file), "/nonexistent/x.eml"], capture_output=True, timeout=60)
    got = lines(r.stdout.decode())
    assert r.returncode == 1 and len(got) == 2
    assert got[0]["source"]["ip"] == "192.0.2.25" and got[1]["error"]


def test_trust_from_the_config_file(tmp_path, msg_file, monkeypatch):
    cfg = tmp_path / "mailrep.toml"
    cfg.write_text('[trace]\nmailhosts = ["mx.example.org"]\n')
    monkeypatch.setenv("MAILREP_CONFIG", str(cfg))
    code, out = run(str(msg_file))
    assert code == 0 and lines(out)[0]["source"]["ip"] == "198.51.100.7"
    cfg.write_text('[trace]\ntrusted_networks = ["not a network"]\n')
    code, out = run(str(msg_file))
    assert code == 2 and out == ""
    cfg.write_text("[trace]\ntrusted_received = 1\n")
    code, out = run(str(msg_file))
    assert lines(out)[0]["source"]["ip"] == "198.51.100.7"
