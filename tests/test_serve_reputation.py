"""Issue 15's must-show, end to end over the wire: `mailrep serve --dns` takes volume
telemetry (POST /api/v1/volume), reports from three reporters and real `dig`s on bl., and
within a minute answers the reputation API and the rep. zone."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.intake.mail import spam
from tests.peers import require
from tests.serve_proc import Serve, prepare_db

MAIL = {"Content-Type": "message/rfc822"}
BIG, SMALL, QUERIED, UNKNOWN = "45.7.1.1", "45.7.1.2", "45.7.1.3", "45.7.1.4"


def rev(ip: str) -> str:
    return ".".join(reversed(ip.split(".")))


def test_reputation_end_to_end(tmp_path):
    dig = require("dig")
    data = tmp_path / "var"
    data.mkdir()
    (data / "mailrep.toml").write_text("[dns]\ncount_queries = true\ncount_interval = 0.5\n"
                                       "[reputation]\nrecompute_interval = 1\n")
    tokens, other = prepare_db(f"sqlite:///{data / 'mailrep.sqlite3'}", reporters=3)
    srv = Serve(data, dns=True).start()
    port = str(srv.ports["dns"])

    def dig_(name: str, rtype: str = "A", *opts: str) -> str:
        return subprocess.run([dig, "@127.0.0.1", "-p", port, "+tries=1", "+time=2", *opts, name, rtype],
                              capture_output=True, text=True, timeout=10).stdout

    try:
        with httpx.Client(base_url=srv.base, timeout=10) as c:
            now = datetime.now(UTC)
            period = {"start": (now - timedelta(days=1)).isoformat(), "end": now.isoformat()}
            r = c.post("/api/v1/volume", headers={"Authorization": f"Bearer {other['feed']}"},
                       json=[{"ip": BIG, "count": 999_990, **period}, {"ip": SMALL, "count": 10, **period}])
            assert r.status_code == 202, r.text
            for i, token in enumerate(tokens):
                r = c.post("/api/v1/reports", content=spam(SMALL, n=i),
                           headers={"Authorization": f"Bearer {token}", **MAIL})
                assert r.status_code == 202 and r.json()["source_ip"] == SMALL, r.text
            for _ in range(30):
                dig_(f"{rev(QUERIED)}.bl.mailrep.test", "A", "+short")

            def rep(ip: str) -> dict:
                r = c.get(f"/api/v1/reputation/{ip}")
                assert r.status_code == 200, r.text
                return r.json()

            def ready() -> bool:
                big, small, queried = rep(BIG), rep(SMALL), rep(QUERIED)
                return (big["score"] is not None and small["complaints"]["day"] == 3
                        and queried["dns_queries"]["day"] >= 30)

            start = time.monotonic()
            while time.monotonic() - start < 60 and not ready():
                time.sleep(0.5)
            big, small, queried = rep(BIG), rep(SMALL), rep(QUERIED)
            assert big["score"] >= 0 and abs(big["magnitude"]["day"] - 10.0) < 0.01, big
            assert small["score"] < 0 and abs(small["magnitude"]["day"] - 5.0) < 0.01, small
            assert small["complaints"]["day"] == 3 and small["explanation"] and small["history"]
            assert queried["dns_queries"]["day"] >= 30, queried
            assert rep(UNKNOWN)["score"] is None
            net = c.get("/api/v1/reputation/network/45.7.1.0/24").json()  # the /24 of all three
            assert net["volume"]["day"] == 1_000_000 and net["complaints"]["day"] == 3, net

        # the rep. zone (rebuilt when a recompute changes what it publishes)
        name = f"{rev(SMALL)}.rep.mailrep.test"
        start = time.monotonic()
        want = f"score={small['score']:.1f}|"  # once a recompute has seen all three reports
        while time.monotonic() - start < 30 and want not in dig_(name, "TXT", "+short"):
            time.sleep(0.5)
        txt = dig_(name, "TXT", "+short")
        assert want in txt and "mag_day=5.00" in txt and "complaints_day=3" in txt, txt
        assert dig_(name, "A", "+short").strip() == f"127.0.4.{round((small['score'] + 10) * 5)}"
        assert dig_(f"{rev(BIG)}.rep.mailrep.test", "A", "+short").strip() == \
            f"127.0.4.{round((big['score'] + 10) * 5)}"
        assert "status: NXDOMAIN" in dig_(f"{rev(UNKNOWN)}.rep.mailrep.test", "A")
        assert dig_("2.0.0.127.rep.mailrep.test", "A", "+short").strip() == "127.0.0.2"  # RFC 5782
        assert "status: NXDOMAIN" in dig_("1.0.0.127.rep.mailrep.test", "A")
    finally:
        assert srv.stop() == 0
