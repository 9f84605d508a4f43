"""The link in every DNS TXT answer (issue 13, defect 13): derived from `mailrep serve --http`
when no site_url is configured, MAILREP_SITE_URL otherwise."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from tests.peers import require
from tests.serve_proc import Serve, prepare_db


def _txt(dig: str, port: int, name: str) -> str:
    out = subprocess.run([dig, "@127.0.0.1", "-p", str(port), "+short", "+tries=1", "+time=2", name, "TXT"],
                         capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


@pytest.mark.parametrize("site_url", [None, "https://rep.example.org"])
def test_txt_link_follows_http_or_site_url(tmp_path, monkeypatch, site_url):
    dig = require("dig")
    monkeypatch.delenv("MAILREP_SITE_URL", raising=False)
    if site_url:
        monkeypatch.setenv("MAILREP_SITE_URL", site_url)
    _, other = prepare_db(f"sqlite:///{tmp_path / 'var' / 'mailrep.sqlite3'}")
    srv = Serve(tmp_path / "var", dns=True).start()
    try:
        want = site_url or srv.base  # http://127.0.0.1:<the bound port>
        r = httpx.post(f"{srv.base}/api/v1/manual-actions", timeout=10,
                       json={"action": "list", "key": "45.33.1.2", "reason": "site url test"},
                       headers={"Authorization": f"Bearer {other['deputy']}"})
        assert r.status_code == 200, r.text
        port = srv.ports["dns"]
        end = time.monotonic() + 15
        while time.monotonic() < end and not _txt(dig, port, "2.1.33.45.bl.mailrep.test"):
            time.sleep(0.25)
        for name, ip in (("2.1.33.45.bl.mailrep.test", "45.33.1.2"), ("2.0.0.127.bl.mailrep.test", "127.0.0.2")):
            txt = _txt(dig, port, name)
            assert f"{want}/lookup?ip={ip}" in txt, (name, txt)
    finally:
        assert srv.stop() == 0
