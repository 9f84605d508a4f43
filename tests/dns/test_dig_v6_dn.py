"""dig/kdig against IPv6 (32 nibbles) and domain (dnset) zones served by `mailrep dns`."""

from __future__ import annotations

import ipaddress

import pytest

from tests.dns.conftest import mailrep_dns
from tests.dns.digtool import dig

pytestmark = pytest.mark.peer

V6 = """\
$SOA 300 ns.bl6.mailrep.test hostmaster.mailrep.test 3 3600 600 86400 60
:127.0.0.2:v6 listed $
::ffff:7f00:2
2001:db8:1::/48
2001:db8:2::5 :127.0.0.5:five
"""
DN = """\
$SOA 300 ns.dbl.mailrep.test hostmaster.mailrep.test 3 3600 600 86400 60
:127.0.1.2:domain $
test
example.com
*.wild.example
.both.example
!ok.both.example
"""
Z6, ZD = "bl6.mailrep.test", "dbl.mailrep.test"


def nibbles(ip: str) -> list[str]:
    return list(reversed(ipaddress.IPv6Address(ip).exploded.replace(":", "")))


def q6(ip: str, keep: int = 32, extra: str = "") -> str:
    labels = nibbles(ip)[32 - keep :]
    return ".".join([*([extra] if extra else []), *labels, Z6])


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    d = tmp_path_factory.mktemp("v6dn")
    (d / "v6.txt").write_text(V6)
    (d / "dn.txt").write_text(DN)
    with mailrep_dns([f"{Z6}:ip6trie:{d / 'v6.txt'}", f"{ZD}:dnset:{d / 'dn.txt'}"]) as (_p, p):
        yield p


CASES = [
    # IPv6: exactly 32 nibbles
    (q6("::ffff:7f00:2"), "A", "NOERROR", ["127.0.0.2"]),
    (q6("::ffff:7f00:1"), "A", "NXDOMAIN", []),
    (q6("2001:db8:1:abcd::1"), "A", "NOERROR", ["127.0.0.2"]),
    (q6("2001:db8:1:abcd::1"), "TXT", "NOERROR", ['"v6 listed 2001:db8:1:abcd::1"']),
    (q6("2001:db8:2::5"), "A", "NOERROR", ["127.0.0.5"]),
    (q6("2001:db8:2::6"), "A", "NXDOMAIN", []),
    (q6("2001:db8:1::1", keep=31), "A", "NOERROR", []),  # shorter prefix with entries beneath: ENT
    (q6("2001:db8:1::1", keep=8), "A", "NOERROR", []),
    (q6("2001:db8:3::1", keep=12), "A", "NXDOMAIN", []),  # nothing beneath 2001:db8:3
    (q6("2001:db8:1::1", extra="0"), "A", "NXDOMAIN", []),  # 33 labels
    (q6("2001:db8:1::1").replace("1.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2", "1.0.0.0.1.0.0.0.8.B.D.0.1.0.0.2"),
     "A", "NOERROR", ["127.0.0.2"]),  # nibbles are case-insensitive
    ("g." + q6("2001:db8:1::1", keep=31), "A", "NXDOMAIN", []),  # not a nibble
    # domains (dnset): exact, *. = subdomains only, . = both, ! excludes
    (f"test.{ZD}", "A", "NOERROR", ["127.0.1.2"]),
    (f"invalid.{ZD}", "A", "NXDOMAIN", []),
    (f"example.com.{ZD}", "TXT", "NOERROR", ['"domain example.com"']),
    (f"www.example.com.{ZD}", "A", "NXDOMAIN", []),
    (f"com.{ZD}", "A", "NOERROR", []),  # empty non-terminal above example.com
    (f"wild.example.{ZD}", "A", "NOERROR", []),  # *. lists only below (the name itself is an ENT)
    (f"a.b.wild.example.{ZD}", "A", "NOERROR", ["127.0.1.2"]),
    (f"both.example.{ZD}", "A", "NOERROR", ["127.0.1.2"]),
    (f"x.both.example.{ZD}", "A", "NOERROR", ["127.0.1.2"]),
    (f"ok.both.example.{ZD}", "A", "NXDOMAIN", []),
    (f"EXAMPLE.Com.{ZD}", "A", "NOERROR", ["127.0.1.2"]),
]


@pytest.mark.parametrize(("name", "rtype", "status", "ans"), CASES)
@pytest.mark.parametrize("tool", ["dig", "kdig"])
def test_v6_and_domain_rules(port, tool, name, rtype, status, ans):
    r = dig(port, name, rtype, tool=tool)
    assert r.status == status, r.text
    assert sorted(" ".join(rr[4:]) for rr in r.answer) == sorted(ans), r.text
    assert [rr[3] for rr in r.authority] == ([] if ans else ["SOA"]), r.text
    assert "aa" in r.flags
