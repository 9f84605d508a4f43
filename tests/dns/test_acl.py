"""Client ACLs, the query budget and keyed access (issue 5, must show 4): `mailrep dns` with a
[dns] table, asked with dig from distinct loopback source addresses (dig -b 127.0.X.Y);
plus table tests of the pure pieces."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mailrep.dns.acl import (
    ERROR_EXCESSIVE,
    ERROR_RESOLVER,
    Acl,
    Action,
    Budget,
    Networks,
    Rule,
    error_answer,
    keyed_view,
    refused,
)
from mailrep.zones.build import build_snapshot
from tests.dns import rawdns
from tests.dns.conftest import bl_file, mailrep_dns  # noqa: F401 (fixture)
from tests.dns.digtool import dig
from tests.peers import require

CONFIG = """\
[dns]
query_budget = 20
acl = [
  {networks = ["127.0.3.0/24"], action = "refuse"},
  {networks = ["127.0.4.0/24"], action = "ignore"},
  {networks = ["127.0.5.0/24", "127.0.9.9/32"], action = "error", zones = ["bl.mailrep.test"]},
]
keys = {"kbl.mailrep.test" = ["s3cret", "other"]}
"""
LISTED = "2.0.0.127"  # the RFC 5782 test point, listed in every zone


@pytest.fixture(scope="module")
def server(bl_file: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    cfg = tmp_path_factory.mktemp("acl") / "mailrep.toml"
    cfg.write_text(CONFIG)
    with mailrep_dns([f"bl.mailrep.test:ip4set:{bl_file}", f"kbl.mailrep.test:ip4set:{bl_file}",
                      f"open.mailrep.test:ip4set:{bl_file}"], env={"MAILREP_CONFIG": str(cfg)}) as (_p, port):
        yield port


def _dig(port: int, src: str, name: str, rtype: str = "A"):
    return dig(port, name, rtype, "-b", src)


@pytest.mark.peer
def test_allowed_client_gets_the_listing(server):
    r = _dig(server, "127.0.7.1", f"{LISTED}.bl.mailrep.test")
    assert r.status == "NOERROR" and r.rdata("A") == ["127.0.0.2"]


@pytest.mark.peer
def test_refuse(server):
    r = _dig(server, "127.0.3.10", f"{LISTED}.bl.mailrep.test")
    assert r.status == "REFUSED" and not r.answer
    r = _dig(server, "127.0.3.10", f"{LISTED}.open.mailrep.test")  # a rule without zones: all zones
    assert r.status == "REFUSED"


@pytest.mark.peer
def test_ignore_is_silence(server):
    exe = require("dig")
    out = subprocess.run([exe, "@127.0.0.1", "-p", str(server), "-b", "127.0.4.4", "+norec", "+tries=1",
                          "+time=1", f"{LISTED}.bl.mailrep.test", "A"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 9 and "timed out" in out.stdout, out.stdout
    # the same query from an allowed network is answered at once
    assert _dig(server, "127.0.4.4".replace(".4.", ".8."), f"{LISTED}.bl.mailrep.test").status == "NOERROR"


@pytest.mark.peer
@pytest.mark.parametrize("src", ["127.0.5.77", "127.0.9.9"])
def test_error_answer_for_named_networks_never_looks_like_a_listing(server, src):
    for name in (f"{LISTED}.bl.mailrep.test", "9.9.9.9.bl.mailrep.test"):  # listed or not: same answer
        r = _dig(server, src, name)
        assert r.status == "NOERROR" and r.rdata("A") == ["127.255.255.254"]
        t = _dig(server, src, name, "TXT")
        assert "public/open resolver" in " ".join(t.rdata("TXT"))
    # the rule names only bl.: the other zones answer that network normally
    r = _dig(server, src, f"{LISTED}.open.mailrep.test")
    assert r.rdata("A") == ["127.0.0.2"]
    # a neighbour outside the /32 rule is not affected
    if src == "127.0.9.9":
        assert _dig(server, "127.0.9.10", f"{LISTED}.bl.mailrep.test").rdata("A") == ["127.0.0.2"]


@pytest.mark.peer
def test_over_budget_gets_127_255_255_255(server):
    seen = [_dig(server, "127.0.6.1", "9.9.9.9.bl.mailrep.test") for _ in range(22)]
    assert all(r.status == "NXDOMAIN" for r in seen[:20])
    assert all(r.rdata("A") == ["127.255.255.255"] for r in seen[20:])
    # the budget is per /24: another network is unaffected
    assert _dig(server, "127.0.10.1", "9.9.9.9.bl.mailrep.test").status == "NXDOMAIN"


@pytest.mark.peer
def test_keyed_access(server):
    ok = _dig(server, "127.0.11.1", f"{LISTED}.s3cret.kbl.mailrep.test")
    assert ok.status == "NOERROR" and ok.rdata("A") == ["127.0.0.2"]
    assert ok.owners() == [f"{LISTED}.s3cret.kbl.mailrep.test."]
    assert _dig(server, "127.0.11.1", f"{LISTED}.OTHER.kbl.mailrep.test").rdata("A") == ["127.0.0.2"]
    nx = _dig(server, "127.0.11.1", "9.9.9.9.s3cret.kbl.mailrep.test")
    assert nx.status == "NXDOMAIN" and nx.authority[0][3] == "SOA"
    for name in (f"{LISTED}.wrong.kbl.mailrep.test", f"{LISTED}.kbl.mailrep.test", "kbl.mailrep.test"):
        r = _dig(server, "127.0.11.1", name)
        assert r.status == "REFUSED" and not r.answer, name
    soa = _dig(server, "127.0.11.1", "s3cret.kbl.mailrep.test", "SOA")
    assert soa.status == "NOERROR" and soa.answer[0][3] == "SOA"


# --- the pure pieces ------------------------------------------------------------------------

@pytest.mark.parametrize(("ip", "inside"), [
    ("8.8.8.8", True), ("8.8.4.4", False), ("8.8.8.255", True), ("1.1.1.1", True), ("1.1.1.2", False),
    ("2001:4860::8888", True), ("2001:4861::1", False), ("::ffff:8.8.8.9", True), ("garbage", False),
])
def test_networks(ip, inside):
    nets = Networks(["8.8.8.0/24", "1.1.1.1", "2001:4860::/32"])
    assert nets.contains(ip) is inside


def test_acl_first_rule_wins_and_zones_limit_it():
    acl = Acl([Rule(Networks(["10.0.0.0/8"]), Action.ERROR), Rule(Networks(["10.1.0.0/16"]), Action.REFUSE)],
              zones=["bl.x"])
    assert acl.action(bytes((10, 1, 2, 3)), "bl.x") is Action.ERROR
    assert acl.action(bytes((10, 1, 2, 3)), "wl.x") is Action.ALLOW
    assert acl.action(bytes((11, 1, 2, 3)), "bl.x") is Action.ALLOW


def test_budget_window_and_memory_bound():
    b = Budget(3, window=10, max_clients=100)
    c = bytes((192, 0, 2, 1))
    assert [b.over(c, 0.0) for _ in range(5)] == [False, False, False, True, True]
    assert b.over(bytes((192, 0, 2, 200)), 1.0)  # the same /24 shares the count
    assert not b.over(bytes((192, 0, 3, 200)), 1.0)
    assert not b.over(c, 10.5)  # a new window
    for i in range(10_000):
        b.over(i.to_bytes(4, "big"), 11.0)
        assert len(b.counts) <= 100


@pytest.mark.parametrize(("rtype", "expect_type"), [("A", 1), ("ANY", 1), ("TXT", 16), ("MX", None)])
@pytest.mark.parametrize("code", [ERROR_RESOLVER, ERROR_EXCESSIVE])
def test_error_answer_wire(rtype, expect_type, code):
    q = rawdns.query("2.0.0.127.bl.mailrep.test", rtype, 4242, edns=None)
    r = error_answer(q, code)
    qid, _flags, rcode, answers = rawdns.parse(r)
    assert qid == 4242
    if expect_type is None:
        assert rcode == 5 and not answers
    elif expect_type == 1:
        assert rcode == 0 and answers == [("2.0.0.127.bl.mailrep.test.", 60, "A",
                                           ".".join(str(b) for b in code))]
    else:
        assert rcode == 0 and answers[0][2] == "TXT"


def test_refused_keeps_id_and_question():
    q = rawdns.query("x.bl.test", "A", 7, edns=None)
    r = refused(q)
    assert r[:2] == q[:2] and r[3] & 0xF == 5 and r[12:] == q[12:]
    assert refused(r) is None  # never answer a response


def test_keyed_view_shares_data_and_hides_the_bare_zone():
    snap = build_snapshot([("bl", "192.0.2.1", "127.0.0.2", None)], serial=3)
    view = keyed_view(snap, {"bl.mailrep.test": ["K1"]})
    assert "bl.mailrep.test" not in view.zones and "k1.bl.mailrep.test" in view.zones
    assert view.zones["k1.bl.mailrep.test"].datasets == snap.zones["bl.mailrep.test"].datasets
    assert view.zones["dbl.mailrep.test"] is snap.zones["dbl.mailrep.test"]
    assert view.serial == 3
    assert keyed_view(snap, {}) is snap
